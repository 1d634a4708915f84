"""Crafted or mistyped addresses get a clear 400 page (or JSON for API clients), never a server error."""
import pytest
from nicegui.testing import User

from tests.ui.conftest import login

HUGE = '9' * 25  # larger than any database integer

BAD = [
    (f'/attachments/{HUGE}', 'attachment_id: is out of range'),
    ('/attachments/0', 'attachment_id: is out of range'),
    ('/attachments/abc', 'attachment_id: must be a whole number'),
    (f'/customers/{HUGE}', 'user_id: is out of range'),
    ('/customers/abc', 'user_id: must be a whole number'),
    ('/customers/1?retired=maybe', 'retired: must be true or false'),
    (f'/customers?organisation={HUGE}', 'organisation: is out of range'),
    ('/customers?organisation=acme', 'organisation: must be a whole number'),
    (f'/tickets/new?customer={HUGE}', 'customer: is out of range'),
    (f'/queues?queue={HUGE}', 'queue: is out of range'),
    ('/queues?page=abc', 'page: must be a whole number'),
    ('/open?page=-5', 'page: is out of range'),
    (f'/my?page={HUGE}', 'page: is out of range'),
    (f'/tickets?page={HUGE}', 'page: is out of range'),  # was an OverflowError (a 500) in the ticket list
    ('/tickets?page=abc', 'page: must be a whole number'),
    ('/tickets?q=' + 'x' * 300, 'q: string should have at most 200 characters'),
    ('/tickets?status=' + 'x' * 300, 'status: string should have at most 200 characters'),
    ('/tickets/' + 'PL-' + '9' * 100, 'reference: string should have at most 64 characters'),
    ('/portal/requests/' + 'PL-' + '9' * 100, 'reference: string should have at most 64 characters'),
    ('/customers?q=' + 'x' * 300, 'q: string should have at most 200 characters'),
    ('/admin/outbox?status=' + 'x' * 300, 'status: string should have at most 200 characters'),
    ('/login?notice=' + 'x' * 300, 'notice: string should have at most 200 characters'),
    ('/password/reset?token=' + 'x' * 3000, 'token: string should have at most 2000 characters'),
]


@pytest.mark.parametrize(('path', 'message'), BAD)
async def test_bad_parameter_gets_a_readable_400_page(user: User, people, path: str, message: str) -> None:
    await login(user, 'anna@pulse.demo')
    response = await user.http_client.get(path, headers={'Accept': 'text/html'})
    assert response.status_code == 400
    assert 'This address is not valid' in response.text
    assert message in response.text


async def test_api_clients_get_the_validation_details_as_json(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    response = await user.http_client.get(f'/attachments/{HUGE}', headers={'Accept': 'application/json'})
    assert response.status_code == 422
    assert response.json()['detail'][0]['loc'] == ['path', 'attachment_id']


async def test_parameter_values_are_escaped_on_the_error_page(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    response = await user.http_client.get('/customers/<script>alert(1)</script>', headers={'Accept': 'text/html'})
    assert response.status_code in (400, 404)
    assert '<script>alert(1)</script>' not in response.text


async def test_valid_addresses_still_work(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/open?page=2')  # the former "All open" list: now the ticket list
    await user.should_see(marker='work-summary')
    missing = await user.http_client.get('/customers/999999')  # well-formed, but nobody has that id
    assert missing.status_code == 404 and 'No such person' in missing.text


@pytest.mark.parametrize('path', ['/no/such/page', '/tickets/PL-2026-000001/extra', '/admin/nothing'])
async def test_an_unknown_address_gets_the_apps_404_page_with_a_way_on(user: User, people, path: str) -> None:
    await login(user, 'anna@pulse.demo')
    response = await user.http_client.get(path, headers={'Accept': 'text/html'})
    assert response.status_code == 404
    assert 'Page not found' in response.text and 'Pulse Live' in response.text
    assert 'href="/tickets"' in response.text and 'Back to Pulse Live' in response.text
    assert 'HTTPException' not in response.text and 'Not Found' not in response.text


async def test_api_clients_get_json_for_an_unknown_address(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    response = await user.http_client.get('/no/such/page', headers={'Accept': 'application/json'})
    assert response.status_code == 404 and response.json() == {'detail': 'Not Found'}
