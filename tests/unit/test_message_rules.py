"""Messages: nothing is added to a closed ticket; which texts count as "mentions only staff"."""
import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import ValidationError
from pulse_live.models import ResolutionCode, TicketEvent
from pulse_live.services import chatter, tickets


async def test_a_closed_ticket_takes_no_message_and_says_why(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='Done', customer_id=carl.id)
    async with db.session() as s:
        code = (await s.execute(select(ResolutionCode.id).limit(1))).scalar_one()
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=code, resolution_text='Fixed')
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='Thanks!')  # resolved: still open to talk
    await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version, status='closed')
    with pytest.raises(ValidationError, match=f'{ticket.reference} was closed.*Reopen the ticket'):
        await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Late note', internal=True)
    with pytest.raises(ValidationError, match=f'open a new request and mention {ticket.reference}'):
        await chatter.post_message(actor=carl, ticket_id=ticket.id, body='One more thing')
    async with db.session() as s:
        bodies = (await s.execute(select(TicketEvent.body).where(TicketEvent.ticket_id == ticket.id,
                                                                 TicketEvent.kind == 'message'))).scalars().all()
    assert bodies == ['Thanks!']


@pytest.mark.parametrize('body, only_staff', [
    ('@ben the vendor confirmed a patch', True),
    ('@Team please all check', True),
    ('@ben and @maria, see above', True),
    ('@carl your printer is fixed, @ben helped', False),  # the customer is mentioned too
    ('@carl your printer is fixed', False),
    ('No mention here', False),
    ('Write to carl@acme.demo', False),  # an address is no mention
    ('@nobody-by-that-name hello', False),
])
async def test_mentions_only_staff(people, body, only_staff):
    assert await chatter.mentions_only_staff(body) is only_staff
