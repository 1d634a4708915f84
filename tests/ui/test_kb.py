"""The knowledge base on screen: the editor with its preview and the conflict rule, an article's history with a diff,
"Mark reviewed", create from a ticket, the composer's # picker, the portal's Help, and the public /help."""
from collections.abc import Callable

from nicegui import ui
from nicegui.testing import User
from sqlalchemy import select

from pulse_live import db
from pulse_live.models import Article, ArticleTicketLink
from pulse_live.services import chatter, kb
from pulse_live.services.kb import ArticleFields
from tests.factories import make_help_categories, make_ticket
from tests.ui.conftest import login, open_ticket, until


async def _article_by_title(title: str) -> Article | None:
    async with db.session() as s:
        return (await s.execute(select(Article).where(Article.title == title))).scalar()


async def test_an_agent_writes_an_article_with_a_live_preview_and_saves_it(user: User, people) -> None:
    await login(user, 'anna@pulse.demo')
    await user.open('/kb')
    await user.should_see(marker='kb-empty')
    user.find(marker='kb-new').click()
    await user.should_see(marker='kb-editor')
    user.find(marker='kb-title').type('Reset the VPN client')
    user.find(marker='kb-body').type('1. Quit the client\n2. Delete the **profile**')
    preview = user.find(marker='kb-preview').elements.pop()
    await until(lambda: '<strong>profile</strong>' in preview.content and '<h1>Reset the VPN client</h1>'
                in preview.content)
    user.find(marker='kb-save').click()
    await user.should_see('Article saved')
    await user.should_see(marker='kb-article-body')
    await user.should_see(marker='kb-version', content='Version 1')
    stored = await _article_by_title('Reset the VPN client')
    assert stored is not None and stored.visibility == 'internal' and stored.status == 'draft'
    # an empty title is refused with a clear message; nothing is stored
    await user.open('/kb/new')
    user.find(marker='kb-body').type('No title')
    user.find(marker='kb-save').click()
    await user.should_see('Give the article a title.')
    async with db.session() as s:
        assert len((await s.execute(select(Article))).scalars().all()) == 1


async def test_two_agents_editing_the_same_article_the_second_keeps_their_text_and_chooses(
        create_user: Callable[[], User], people) -> None:
    anna_user = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna_user, fields=ArticleFields(title='Toner', body='Old text'))
    anna, ben = create_user(), create_user()
    await login(anna, 'anna@pulse.demo')
    await login(ben, 'ben@pulse.demo')
    await anna.open(f'/kb/{article.id}/edit')
    await ben.open(f'/kb/{article.id}/edit')
    await anna.should_see(marker='kb-editor')
    await ben.should_see(marker='kb-editor')
    anna.find(marker='kb-body').clear().type('Anna: order from facilities')
    anna.find(marker='kb-save').click()
    await anna.should_see(marker='kb-article-body')
    ben.find(marker='kb-body').clear().type('Ben: replace the drum too')
    ben.find(marker='kb-save').click()
    await ben.should_see(marker='kb-conflict-message')
    await ben.should_see('Somebody saved this article meanwhile (now version 2)')
    assert ben.find(marker='kb-body').elements.pop().value == 'Ben: replace the drum too'  # kept
    stored = await _article_by_title('Toner')
    assert stored.body == 'Anna: order from facilities' and stored.version == 2
    ben.find(marker='kb-use-mine').click()  # Ben saves his text over the version he has now seen
    await ben.should_see(marker='kb-article-body')
    stored = await _article_by_title('Toner')
    assert (stored.body, stored.version) == ('Ben: replace the drum too', 3)


async def test_the_article_page_shows_history_with_a_diff_and_mark_reviewed(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Dock', body='Plug in\nWait'))
    await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                          fields=ArticleFields(title='Dock', body='Plug in the USB-C cable\nWait'))
    await login(user, 'ben@pulse.demo')
    await user.open(f'/kb/{article.id}')
    await user.should_see(marker='kb-diff-title', content='Changes in version 2 (against version 1)')
    await user.should_see(marker='kb-diff-removed', content='Plug in')
    await user.should_see(marker='kb-diff-added', content='Plug in the USB-C cable')
    await user.should_see(marker='kb-reviewed', content='Last reviewed never')
    user.find(marker='kb-mark-reviewed').click()
    await user.should_see(marker='kb-reviewed', content='by Ben Okafor')
    await user.open(f'/kb/{article.id}?version=1')
    await user.should_see(marker='kb-diff-title', content='Changes in version 1 (first version)')


async def test_create_article_from_a_ticket_prefills_problem_and_resolution_and_links_back(
        user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'Outlook asks for the password again and again',
                               description='Since Monday Outlook keeps prompting.')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Please clear the credential manager entry.')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='internal: was a stale token', internal=True)
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    user.find(marker='create-article').click()
    await user.should_see(marker='kb-prefill-note')
    assert user.find(marker='kb-title').elements.pop().value == 'Outlook asks for the password again and again'
    body = user.find(marker='kb-body').elements.pop().value
    assert 'Since Monday Outlook keeps prompting.' in body
    assert 'Please clear the credential manager entry.' in body
    assert 'stale token' not in body  # an internal note is no resolution customers may read
    user.find(marker='kb-save').click()
    await user.should_see(marker='kb-ticket-link', content=ticket.reference)
    article = await _article_by_title('Outlook asks for the password again and again')
    async with db.session() as s:
        links = (await s.execute(select(ArticleTicketLink.ticket_id).where(
            ArticleTicketLink.article_id == article.id))).scalars().all()
    assert links == [ticket.id]


async def test_the_hash_picker_inserts_an_article_link_into_a_reply(user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    public = await kb.create_article(actor=anna, fields=ArticleFields(
        title='VPN certificate renewal', visibility='public', status='published'))
    await kb.create_article(actor=anna, fields=ArticleFields(
        title='VPN internal runbook', visibility='internal', status='published'))
    await kb.create_article(actor=anna, fields=ArticleFields(title='VPN draft', visibility='public'))
    ticket = await make_ticket(people, 'VPN fails')
    await open_ticket(user, 'anna@pulse.demo', ticket.reference)
    user.find(marker='mode-reply').click()
    user.find(marker='composer').type('See #vpn')
    await user.should_see(marker='article-option', content='VPN certificate renewal')
    await user.should_not_see('VPN internal runbook')  # a reply: the customer could not open it
    await user.should_not_see('VPN draft')
    user.find(marker='article-option').click()
    assert user.find(marker='composer').elements.pop().value == \
        f'See [VPN certificate renewal](/kb/{public.id}) '
    # in an internal note internal articles are offered too
    user.find(marker='mode-note').click()
    user.find(marker='composer').clear().type('Runbook: #runbook')
    await user.should_see(marker='article-option', content='VPN internal runbook')
    user.find(marker='composer').clear().type('Nothing: #zzzz')
    await user.should_see(marker='article-none')


async def test_customers_read_public_published_articles_in_the_portal_and_say_whether_they_helped(
        user: User, people) -> None:
    anna = people.users['anna@pulse.demo']
    network = await kb.save_category(actor=anna, name='Network')
    public = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Connect to the guest Wi-Fi', body='Choose **Guest**.', category_id=network.id,
        visibility='public', status='published'))
    internal = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Core switch passwords', visibility='internal', status='published'))
    draft = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Half written', visibility='public', status='draft'))
    await login(user, 'carl@acme.demo', expect='My requests')
    await user.open('/portal/help')
    await user.should_see(marker='help-row-title', content='Connect to the guest Wi-Fi')
    await user.should_not_see('Core switch passwords')
    await user.should_not_see('Half written')
    user.find(marker='help-row-title').click()
    await user.should_see(marker='help-article-body')
    user.find(marker='help-no').click()
    await user.should_see(marker='help-thanks')
    async with db.session() as s:
        assert (await s.get(Article, public.id)).helpful_no == 1
    for hidden in (internal, draft):  # also by address: the page's 404, without the article
        response = await user.http_client.get(f'/portal/help/{hidden.id}')
        assert response.status_code == 404
        assert 'Article not found' in response.text and hidden.title not in response.text
    # an article link in a reply leads customers to the portal's Help page of it
    response = await user.http_client.get(f'/kb/{public.id}', follow_redirects=False)
    assert response.status_code == 303 and response.headers['location'] == f'/portal/help/{public.id}'


async def test_the_public_help_centre_is_closed_until_an_admin_opens_it(create_user: Callable[[], User],
                                                                         people) -> None:
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Opening hours of the service desk', body='Mon–Fri 8–18', visibility='public', status='published'))
    hidden = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Internal escalation list', visibility='internal', status='published'))
    visitor = create_user()
    for path in ('/help', f'/help/{article.id}'):
        response = await visitor.http_client.get(path, follow_redirects=False)
        assert response.status_code == 404, path
    admin = create_user()
    await login(admin, 'admin@pulse.demo')
    await admin.open('/kb')
    admin.find(marker='kb-help-switch').click()
    await admin.should_see('Public help centre opened')
    response = await visitor.http_client.get('/help', follow_redirects=False)
    assert response.status_code == 200
    await visitor.open('/help')
    await visitor.should_see(marker='help-row-title', content='Opening hours of the service desk')
    await visitor.should_not_see('Internal escalation list')
    await visitor.open(f'/help/{article.id}')
    visitor.find(marker='help-yes').click()
    await visitor.should_see(marker='help-thanks')
    async with db.session() as s:
        assert (await s.get(Article, article.id)).helpful_yes == 1
    response = await visitor.http_client.get(f'/help/{hidden.id}', follow_redirects=False)
    assert response.status_code == 404
    response = await visitor.http_client.get('/kb', follow_redirects=False)  # the staff pages stay closed
    assert response.status_code in (302, 303, 307) and response.headers['location'] == '/login'


async def test_article_files_are_served_only_to_those_who_may_read_the_article(create_user: Callable[[], User],
                                                                                people) -> None:
    from pulse_live import storage
    anna = people.users['anna@pulse.demo']
    public = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Printer setup', visibility='public', status='published'))
    internal = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Printer admin passwords', visibility='internal', status='published'))
    [shown] = await kb.add_attachments(actor=anna, article_id=public.id, files=[
        storage.UploadedFile('tray.png', 'image/png', b'\x89PNG public picture')])
    [secret] = await kb.add_attachments(actor=anna, article_id=internal.id, files=[
        storage.UploadedFile('admin.txt', 'text/plain', b'secret sheet')])
    agent, customer, visitor = create_user(), create_user(), create_user()
    await login(agent, 'ben@pulse.demo')
    await login(customer, 'carl@acme.demo', expect='My requests')
    for f in (shown, secret):
        response = await agent.http_client.get(f'/help/files/{f.id}')
        assert response.status_code == 200
    response = await customer.http_client.get(f'/help/files/{shown.id}')
    assert (response.status_code, response.content) == (200, b'\x89PNG public picture')
    assert response.headers['x-content-type-options'] == 'nosniff'
    assert (await customer.http_client.get(f'/help/files/{secret.id}')).status_code == 404
    # a visitor: nothing while the help centre is closed, public files once it is open, never internal ones
    assert (await visitor.http_client.get(f'/help/files/{shown.id}')).status_code == 404
    await kb.set_public_help_centre(actor=people.users['admin@pulse.demo'], open_=True)
    assert (await visitor.http_client.get(f'/help/files/{shown.id}')).status_code == 200
    assert (await visitor.http_client.get(f'/help/files/{secret.id}')).status_code == 404


async def test_a_manager_deletes_an_article_from_the_editor_after_confirming_and_search_forgets_it(
        create_user: Callable[[], User], people) -> None:
    from pulse_live.queries import search as search_queries
    anna_user, maria_user = people.users['anna@pulse.demo'], people.users['maria@pulse.demo']
    article = await kb.create_article(actor=anna_user, fields=ArticleFields(
        title='Obsolete fax gateway setup', body='Dial the gateway', visibility='public', status='published'))
    assert [h.id for h in (await search_queries.search(maria_user, 'fax gateway')).groups[2].hits] == [article.id]
    anna, maria = create_user(), create_user()
    await login(anna, 'anna@pulse.demo')  # an agent edits but does not delete (they unpublish instead)
    await anna.open(f'/kb/{article.id}/edit')
    await anna.should_see(marker='kb-editor')
    await anna.should_not_see(marker='kb-delete')
    await login(maria, 'maria@pulse.demo')
    await maria.open(f'/kb/{article.id}/edit')
    dialog = maria.find(ui.dialog).elements.pop()
    assert not dialog.value
    maria.find(marker='kb-delete').click()
    await until(lambda: dialog.value)
    await maria.should_see(marker='kb-delete-dialog')
    maria.find(marker='kb-delete-cancel').click()  # "Keep it": nothing happens
    await until(lambda: not dialog.value)
    assert await _article_by_title('Obsolete fax gateway setup') is not None
    maria.find(marker='kb-delete').click()
    await until(lambda: dialog.value)
    maria.find(marker='kb-delete-confirm').click()
    await maria.should_see('Deleted "Obsolete fax gateway setup"')
    await maria.should_see(marker='kb-new')  # back on the list
    assert await _article_by_title('Obsolete fax gateway setup') is None
    results = await search_queries.search(maria_user, 'fax gateway')
    assert not any(g.hits for g in results.groups)
    assert await search_queries.related_articles(people.users['tom@globex.demo'], 'fax gateway') == []


async def test_the_help_centre_names_no_category_holding_only_internal_or_draft_articles(
        create_user: Callable[[], User], people) -> None:
    secret, secret_child, network, _wifi = await make_help_categories(people)
    await kb.set_public_help_centre(actor=people.users['admin@pulse.demo'], open_=True)
    visitor, customer, agent = create_user(), create_user(), create_user()
    await login(customer, 'carl@acme.demo', expect='My requests')
    for reader, base in ((visitor, '/help'), (customer, '/portal/help')):
        response = await reader.http_client.get(base)
        assert response.status_code == 200, base
        await reader.open(base)
        await reader.should_see(marker='help-categories')
        await reader.should_see('Network')
        await reader.should_see('Wi-Fi')
        await reader.should_not_see('SECRETCAT')
        await reader.should_not_see('SECRETCHILD')
        for hidden in (secret.id, secret_child.id, 999_999):  # the same answer as for a category that is not there
            response = await reader.http_client.get(f'{base}?category={hidden}', follow_redirects=False)
            assert response.status_code == 404, (base, hidden)
            assert 'SECRET' not in response.text and 'No articles found' not in response.text
        response = await reader.http_client.get(f'{base}?category={network.id}')
        assert response.status_code == 200
        await reader.open(f'{base}?category={network.id}')  # a parent lists what is readable in its children
        await reader.should_see(marker='help-row-title', content='Guest Wi-Fi')
    # staff keep every category in their own knowledge base
    await login(agent, 'anna@pulse.demo')
    await agent.open('/kb')
    await agent.should_see(marker='kb-category-link', content='SECRETCAT')
    await agent.should_see(marker='kb-category-link', content='SECRETCHILD')


async def test_pages_allow_images_from_this_site_only_and_show_a_remote_image_as_a_link(
        create_user: Callable[[], User], people) -> None:
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Printer tray', body='![tray](/help/files/1) ![pixel](https://tracker.example/x.png)',
        visibility='public', status='published'))
    await kb.set_public_help_centre(actor=people.users['admin@pulse.demo'], open_=True)
    visitor, customer = create_user(), create_user()
    for path in ('/login', '/help', f'/help/{article.id}'):
        response = await visitor.http_client.get(path)
        assert response.status_code == 200, path
        policy = response.headers['content-security-policy']
        assert "img-src 'self' data: blob:" in policy and "frame-ancestors 'none'" in policy, path
    await login(customer, 'carl@acme.demo', expect='My requests')
    response = await customer.http_client.get(f'/portal/help/{article.id}')
    assert "img-src 'self' data: blob:" in response.headers['content-security-policy']
    await customer.open(f'/portal/help/{article.id}')
    await customer.should_see(marker='help-article-body')
    body = customer.find(marker='help-article-body').elements.pop().content
    assert '<img src="/help/files/1" alt="tray" />' in body
    assert '<img src="https://tracker.example' not in body
    assert '<a href="https://tracker.example/x.png" target="_blank" rel="noopener noreferrer nofollow">pixel</a>' \
        in body
