"""Knowledge base writes: validation, the conflict rule, versions, categories (no cycles), links, feedback."""
import asyncio

import pytest
from sqlalchemy import func, select

from pulse_live import db, storage
from pulse_live.errors import NotFound, PermissionDenied, StaleWrite, ValidationError
from pulse_live.models import Article, ArticleAttachment, ArticleVersion, AuditLog, KbSettings, Service
from pulse_live.services import kb
from pulse_live.services.kb import ArticleFields
from tests.factories import make_ticket


async def _article(article_id: int) -> Article:
    async with db.session() as s:
        article = await s.get(Article, article_id)
        assert article is not None
        return article


async def _versions(article_id: int) -> list[tuple[int, str, str]]:
    async with db.session() as s:
        return [(v.version, v.title, v.body) for v in (await s.execute(
            select(ArticleVersion).where(ArticleVersion.article_id == article_id)
            .order_by(ArticleVersion.version))).scalars()]


async def _service_id(name: str) -> int:
    async with db.session() as s:
        return (await s.execute(select(Service.id).where(Service.name == name))).scalar_one()


async def test_an_agent_writes_an_article_and_every_content_save_is_a_version(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    vpn = await _service_id('VPN')
    network = await kb.save_category(actor=anna, name='Network')
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='  VPN drops every hour ', body='Renew the **certificate**.', category_id=network.id,
        tags=('VPN', ' certificates ', 'vpn'), service_id=vpn, visibility='public', status='draft'))
    stored = await _article(article.id)
    assert (stored.title, stored.tags, stored.service_id, stored.version, stored.author_id, stored.published_at) \
        == ('VPN drops every hour', ['vpn', 'certificates'], vpn, 1, anna.id, None)

    saved = await kb.save_article(actor=ben, article_id=article.id, expected_version=1, fields=ArticleFields(
        title='VPN drops every hour', body='Renew the **certificate** in the client.', category_id=network.id,
        tags=('vpn',), service_id=vpn, visibility='public', status='published'))
    assert (saved.version, saved.status) == (2, 'published')
    assert saved.published_at is not None
    # a save of metadata only is a new version number but no new text in the history
    await kb.save_article(actor=ben, article_id=article.id, expected_version=2, fields=ArticleFields(
        title='VPN drops every hour', body='Renew the **certificate** in the client.', category_id=None,
        tags=('vpn',), service_id=vpn, visibility='public', status='published'))
    # a save that changes nothing is not a version
    same = await kb.save_article(actor=ben, article_id=article.id, expected_version=3, fields=ArticleFields(
        title='VPN drops every hour', body='Renew the **certificate** in the client.', category_id=None,
        tags=('vpn',), service_id=vpn, visibility='public', status='published'))
    assert same.version == 3
    assert await _versions(article.id) == [
        (1, 'VPN drops every hour', 'Renew the **certificate**.'),
        (2, 'VPN drops every hour', 'Renew the **certificate** in the client.')]


async def test_two_agents_saving_the_same_version_one_wins_the_other_is_told_and_nothing_is_lost(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Printer jams', body='Open tray 2.'))

    async def save(actor, body):
        return await kb.save_article(actor=actor, article_id=article.id, expected_version=1,
                                     fields=ArticleFields(title='Printer jams', body=body))

    results = await asyncio.gather(save(anna, 'Anna: open tray 2 and pull.'), save(ben, 'Ben: call facilities.'),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, Article)]
    losers = [r for r in results if isinstance(r, StaleWrite)]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].current_version == 2
    assert 'Somebody saved this article meanwhile' in str(losers[0])
    stored = await _article(article.id)
    assert stored.version == 2 and stored.body == winners[0].body
    assert [v[0] for v in await _versions(article.id)] == [1, 2]
    # the loser saves again on the fresh version: accepted
    again = await kb.save_article(actor=ben, article_id=article.id, expected_version=2,
                                  fields=ArticleFields(title='Printer jams', body='Ben: call facilities.'))
    assert again.version == 3


@pytest.mark.parametrize('fields, message', [
    (ArticleFields(title='   '), 'Give the article a title.'),
    (ArticleFields(title='x' * 301), 'The title is too long'),
    (ArticleFields(title='Two\nlines'), 'The title must be one line.'),
    (ArticleFields(title='Big', body='x' * (kb.MAX_BODY + 1)), 'The article is too long'),
    (ArticleFields(title='Cat', category_id=999_999), 'That category does not exist'),
    (ArticleFields(title='Svc', service_id=999_999), 'That service does not exist'),
    (ArticleFields(title='Vis', visibility='secret'), "Visibility must be public or internal, not 'secret'."),
    (ArticleFields(title='St', status='gone'), "Status must be draft or published, not 'gone'."),
    (ArticleFields(title='Tags', tags=tuple(f't{i}' for i in range(21))), 'Too many tags'),
    (ArticleFields(title='Tag', tags=('y' * 41,)), 'is too long'),
])
async def test_bad_input_is_refused_with_a_clear_message_and_stores_nothing(people, fields, message):
    anna = people.users['anna@pulse.demo']
    with pytest.raises(ValidationError, match=message.replace('(', r'\(').replace(')', r'\)').replace('.', r'\.')):
        await kb.create_article(actor=anna, fields=fields)
    async with db.session() as s:
        assert (await s.execute(select(func.count(Article.id)))).scalar_one() == 0


async def test_a_bad_edit_keeps_the_stored_article(people):
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Keep me', body='Original'))
    with pytest.raises(ValidationError):
        await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                              fields=ArticleFields(title='', body='Changed'))
    with pytest.raises(NotFound):
        await kb.save_article(actor=anna, article_id=article.id + 100, expected_version=1,
                              fields=ArticleFields(title='X'))
    stored = await _article(article.id)
    assert (stored.title, stored.body, stored.version) == ('Keep me', 'Original', 1)


async def test_customers_cannot_write_articles_or_categories(people):
    carl = people.users['carl@acme.demo']
    with pytest.raises(PermissionDenied):
        await kb.create_article(actor=carl, fields=ArticleFields(title='Mine'))
    with pytest.raises(PermissionDenied):
        await kb.save_category(actor=carl, name='Customers')


async def test_the_category_tree_refuses_cycles_and_unknown_parents(people):
    anna = people.users['anna@pulse.demo']
    top = await kb.save_category(actor=anna, name='Hardware')
    mid = await kb.save_category(actor=anna, name='Laptops', parent_id=top.id)
    low = await kb.save_category(actor=anna, name='Docking', parent_id=mid.id)
    with pytest.raises(ValidationError, match='cannot be placed under itself or one of its own subcategories'):
        await kb.save_category(actor=anna, category_id=top.id, name='Hardware', parent_id=low.id)
    with pytest.raises(ValidationError, match='cannot be placed under itself'):
        await kb.save_category(actor=anna, category_id=mid.id, name='Laptops', parent_id=mid.id)
    with pytest.raises(ValidationError, match='The parent category does not exist'):
        await kb.save_category(actor=anna, name='Orphan', parent_id=999_999)
    with pytest.raises(ValidationError, match='has subcategories'):
        await kb.delete_category(actor=anna, category_id=mid.id)
    moved = await kb.save_category(actor=anna, category_id=low.id, name='Docking stations', parent_id=top.id)
    assert (moved.name, moved.parent_id) == ('Docking stations', top.id)


async def test_feedback_counts_once_per_reader_and_a_changed_answer_moves_the_vote(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Reset your password', visibility='public', status='published'))
    assert await kb.record_feedback(article_id=article.id, helped=True, reader='session-a') is True
    assert await kb.record_feedback(article_id=article.id, helped=True, reader='session-a') is False
    assert await kb.record_feedback(article_id=article.id, helped=True, reader='session-b', viewer=carl) is True
    assert await kb.record_feedback(article_id=article.id, helped=False, reader='session-a') is True
    stored = await _article(article.id)
    assert (stored.helpful_yes, stored.helpful_no) == (1, 1)
    assert await kb.record_deflection(article_id=article.id, reader='session-a') is True
    assert await kb.record_deflection(article_id=article.id, reader='session-a') is False
    assert await kb.record_deflection(article_id=article.id, reader='session-c') is True
    assert (await _article(article.id)).deflections == 2


async def test_parallel_double_clicks_of_one_reader_count_once(people):
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Clear the cache', visibility='public', status='published'))
    results = await asyncio.gather(*[kb.record_feedback(article_id=article.id, helped=True, reader='same')
                                     for _ in range(5)], return_exceptions=True)
    assert [r for r in results if r is True] == [True]
    assert (await _article(article.id)).helpful_yes == 1


@pytest.mark.parametrize('visibility, status', [('internal', 'published'), ('public', 'draft')])
async def test_customers_and_visitors_cannot_answer_for_articles_they_may_not_read(people, visibility, status):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Hidden', visibility=visibility,
                                                                       status=status))
    for viewer in (None, carl):
        with pytest.raises(NotFound):
            await kb.record_feedback(article_id=article.id, helped=True, reader='x', viewer=viewer)
        with pytest.raises(NotFound):
            await kb.record_deflection(article_id=article.id, reader='x', viewer=viewer)
    assert await kb.record_feedback(article_id=article.id, helped=True, viewer=anna) is True
    stored = await _article(article.id)
    assert (stored.helpful_yes, stored.deflections) == (1, 0)


async def test_mark_reviewed_does_not_make_an_open_editor_stale(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Toner'))
    reviewed = await kb.mark_reviewed(actor=ben, article_id=article.id)
    assert reviewed.last_reviewed_at is not None and reviewed.last_reviewed_by_id == ben.id
    saved = await kb.save_article(actor=anna, article_id=article.id, expected_version=1,
                                  fields=ArticleFields(title='Toner', body='Order from facilities.'))
    assert saved.version == 2


async def test_links_to_tickets_and_article_from_a_ticket(people):
    anna = people.users['anna@pulse.demo']
    ticket = await make_ticket(people, 'VPN keeps disconnecting')
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='VPN'), from_ticket_id=ticket.id)
    assert await kb.link_ticket(actor=anna, article_id=article.id, ticket_id=ticket.id) is False
    other = await make_ticket(people, 'VPN again')
    assert await kb.link_ticket(actor=anna, article_id=article.id, ticket_id=other.id) is True
    with pytest.raises(NotFound):
        await kb.link_ticket(actor=anna, article_id=article.id, ticket_id=999_999)
    with pytest.raises(NotFound):
        await kb.create_article(actor=anna, fields=ArticleFields(title='From nothing'), from_ticket_id=999_999)


async def test_attachments_follow_the_upload_limits(people, monkeypatch):
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(title='Screenshots'))
    rows = await kb.add_attachments(actor=anna, article_id=article.id, files=[
        storage.UploadedFile(name='../../dock.png', content_type='image/png', data=b'\x89PNG fake')])
    assert (rows[0].filename, rows[0].content_type) == ('dock.png', 'image/png')
    with pytest.raises(ValidationError, match='is empty'):
        await kb.add_attachments(actor=anna, article_id=article.id,
                                 files=[storage.UploadedFile(name='e.txt', content_type='text/plain', data=b'')])
    from pulse_live.config import get_settings
    monkeypatch.setattr(get_settings(), 'max_upload_bytes', 10)
    with pytest.raises(ValidationError, match='too large'):
        await kb.add_attachments(actor=anna, article_id=article.id, files=[
            storage.UploadedFile(name='big.png', content_type='image/png', data=b'x' * 11)])
    async with db.session() as s:
        assert (await s.execute(select(func.count(ArticleAttachment.id)))).scalar_one() == 1


async def test_only_admins_open_the_public_help_centre_and_it_is_audited(people):
    admin, maria = people.users['admin@pulse.demo'], people.users['maria@pulse.demo']
    with pytest.raises(PermissionDenied):
        await kb.set_public_help_centre(actor=maria, open_=True)
    await kb.set_public_help_centre(actor=admin, open_=True)
    async with db.session() as s:
        assert (await s.get(KbSettings, 1)).public_help_centre is True
        audit = (await s.execute(select(AuditLog).where(AuditLog.entity == 'kb_settings'))).scalars().all()
    assert [a.summary for a in audit] == ['Ada Admin opened the public help centre']


async def test_an_answer_whose_count_fails_is_not_kept_without_it(people, monkeypatch):
    """The reader's row and the article's counter are one transaction: on SQLite the row was committed by its own
    savepoint, so a failing counter update left it behind and the reader's next answer counted nothing."""
    anna = people.users['anna@pulse.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Map a drive', visibility='public', status='published'))
    real_update = kb.update

    def failing_update(*args, **kwargs):
        raise RuntimeError('the counter could not be written')
    monkeypatch.setattr(kb, 'update', failing_update)
    with pytest.raises(RuntimeError):
        await kb.record_feedback(article_id=article.id, helped=True, reader='session-x')
    with pytest.raises(RuntimeError):
        await kb.record_deflection(article_id=article.id, reader='session-x')
    monkeypatch.setattr(kb, 'update', real_update)
    assert await kb.record_feedback(article_id=article.id, helped=True, reader='session-x') is True
    assert await kb.record_deflection(article_id=article.id, reader='session-x') is True
    stored = await _article(article.id)
    assert (stored.helpful_yes, stored.deflections) == (1, 1)


async def test_answers_are_limited_per_address_and_per_account(people, monkeypatch):
    """A script voted "No" 60 times in 8 s, a fresh browser session each time: each counted. Now a visitor's
    answers are limited per network address, a signed-in reader's per account; another address still counts."""
    from pulse_live.config import reset_settings
    from pulse_live.errors import TooMany
    monkeypatch.setenv('PULSE_KB_FEEDBACK_PER_MINUTE', '3')
    reset_settings()
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    article = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Printer offline', visibility='public', status='published'))
    for n in range(3):
        assert await kb.record_feedback(article_id=article.id, helped=False, reader=f'fresh-{n}', address='10.0.0.9')
    with pytest.raises(TooMany, match='wait'):
        await kb.record_feedback(article_id=article.id, helped=False, reader='fresh-3', address='10.0.0.9')
    assert await kb.record_feedback(article_id=article.id, helped=True, reader='elsewhere', address='10.0.0.10')
    for n in range(3):
        await kb.record_feedback(article_id=article.id, helped=n % 2 == 0, reader=f'carl-{n}', viewer=carl,
                                 address='10.0.0.9')
    with pytest.raises(TooMany):
        await kb.record_feedback(article_id=article.id, helped=True, reader='carl-3', viewer=carl)
    stored = await _article(article.id)
    assert (stored.helpful_yes, stored.helpful_no) == (3, 4)  # the refused answers counted nothing
