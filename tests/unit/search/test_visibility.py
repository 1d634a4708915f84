"""Who finds what: the rules of ``auth.visible_tickets`` and ``visibility.py``, on SQLite and PostgreSQL. A customer
never finds an internal note, a ticket's internal fields, another organisation's ticket, an internal or draft
article, nor anybody's customer card."""
from pulse_live.queries import search as search_queries
from pulse_live.services import chatter, kb, team
from pulse_live.services.kb import ArticleFields
from tests.factories import make_ticket


async def found(viewer, text: str) -> dict[str, list[int]]:
    results = await search_queries.search(viewer, text, per_group=20)
    return {g.kind: [h.id for h in g.hits] for g in results.groups if g.hits}


async def test_a_customer_never_finds_an_internal_note_or_internal_fields(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, title='Mailbox full', technical_details='quota raised on exch07',
                               workaround='archive to pstfolder')
    note = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Server exch07 is flaky',
                                      internal=True)
    reply = await chatter.post_message(actor=anna, ticket_id=ticket.id, body='We raised your mailbox quota')
    assert await found(anna, 'exch07') == {'ticket': [ticket.id], 'message': [note.id]}
    assert await found(anna, 'pstfolder') == {'ticket': [ticket.id]}
    assert await found(carl, 'exch07') == {}
    assert await found(carl, 'pstfolder') == {}
    assert await found(carl, 'quota') == {'message': [reply.id]}
    assert await found(carl, 'mailbox') == {'ticket': [ticket.id], 'message': [reply.id]}


async def test_a_customer_finds_only_requests_they_may_see(people):
    anna = people.users['anna@pulse.demo']
    carl, eva, tom = (people.users[e] for e in ('carl@acme.demo', 'eva@acme.demo', 'tom@globex.demo'))
    carls = await make_ticket(people, title='Projector bulb blown')
    evas = await make_ticket(people, title='Projector remote missing', customer_id=eva.id)
    toms = await make_ticket(people, title='Projector in London office', customer_id=tom.id)
    reply = await chatter.post_message(actor=anna, ticket_id=toms.id, body='The projector ships tomorrow')
    assert await found(tom, 'projector') == {'ticket': [toms.id], 'message': [reply.id]}
    assert await found(eva, 'projector') == {'ticket': [evas.id]}
    # Carl is ACME's organisation admin: every ACME request, never Globex's
    assert await found(carl, 'projector') == {'ticket': [evas.id, carls.id]}
    assert await found(carl, 'london') == {}
    assert await found(carl, 'ships tomorrow') == {}
    # a colleague put on the team finds that request while on it
    await team.add_member(actor=anna, ticket_id=carls.id, user_id=eva.id)
    assert await found(eva, 'projector') == {'ticket': [evas.id, carls.id]}


async def test_a_customer_finds_published_public_articles_only(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    public = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Pairing a headset', body='Hold the button', visibility='public', status='published'))
    internal = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Headset stock in the cupboard', visibility='internal', status='published'))
    draft = await kb.create_article(actor=anna, fields=ArticleFields(
        title='Headset drivers (draft)', visibility='public', status='draft'))
    assert await found(tom, 'headset') == {'article': [public.id]}
    assert sorted(await found(anna, 'headset')) == ['article']
    assert sorted((await found(anna, 'headset'))['article']) == sorted([public.id, internal.id, draft.id])
    assert [h.id for h in await search_queries.related_articles(tom, 'my headset will not pair')] == [public.id]
    await kb.save_article(actor=anna, article_id=public.id, expected_version=public.version, fields=ArticleFields(
        title='Pairing a headset', body='Hold the button', visibility='internal', status='published'))
    assert await found(tom, 'headset') == {}


async def test_customers_search_no_people_or_organisations(people):
    tom = people.users['tom@globex.demo']
    assert await found(tom, 'carl') == {}
    assert await found(tom, 'acme') == {}
    results = await search_queries.search(tom, 'acme', kinds=('customer', 'organisation'))
    assert results.groups == []


async def test_similar_tickets_put_resolved_ones_first_with_their_resolution(people):
    from pulse_live.services import tickets
    from tests.helpers import resolution_code_id
    anna = people.users['anna@pulse.demo']
    open_one = await make_ticket(people, title='Outlook crashes when opening calendar')
    solved = await make_ticket(people, title='Outlook crashes on calendar invites')
    await tickets.change_status(actor=anna, ticket_id=solved.id, expected_version=solved.version,
                                status='resolved', resolution_code_id=await resolution_code_id(),
                                resolution_text='Repaired the Office installation')
    unrelated = await make_ticket(people, title='Badge reader at the door')
    this = await make_ticket(people, title='Outlook crashes when opening the calendar')
    similar = await search_queries.similar_tickets(anna, this.id)
    assert [h.id for h in similar] == [solved.id, open_one.id]
    assert 'Repaired the Office installation' in similar[0].resolution
    assert unrelated.id not in [h.id for h in similar]
    assert await search_queries.similar_tickets(people.users['carl@acme.demo'], this.id) == []


async def test_a_logged_call_is_found_by_staff_by_its_note_and_never_by_the_customer(people):
    from pulse_live import db
    from pulse_live.search import index
    from pulse_live.services import calls
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, title='Laptop fan noise')
    call = await calls.log_call(actor=anna, ticket_id=ticket.id, direction='inbound', duration='4:10',
                                note='He mentioned the docking station firmware')
    results = await search_queries.search(anna, 'docking firmware', kinds=('message',))
    hits = results.groups[0].hits
    assert [h.id for h in hits] == [call.id]
    assert hits[0].reference == ticket.reference and hits[0].meta.startswith('Call logged by ')
    assert '<mark>firmware</mark>' in hits[0].snippet_html
    assert await found(anna, 'inbound call') == {'message': [call.id]}  # its line: who called, which way
    assert await found(carl, 'docking') == {}  # a call log is staff-only
    async with db.engine().begin() as conn:  # a rebuild from the stored rows finds it too
        await conn.run_sync(index.rebuild)
    assert await found(anna, 'docking firmware') == {'message': [call.id]}
    assert await found(carl, 'firmware') == {}


async def test_the_ticket_pages_similar_tickets_are_searched_once_for_the_agents_opening_it(people, monkeypatch):
    """Every agent opening a ticket gets the same similar tickets and articles: searched once per ticket text and
    kind of reader for a few seconds (``related_to_ticket``), at once again when the title or description changed;
    a customer never gets what staff found, and a viewer who may not see the ticket gets nothing."""
    from pulse_live.search import engine
    from pulse_live.services import tickets
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    carl, tom = people.users['carl@acme.demo'], people.users['tom@globex.demo']
    await kb.create_article(actor=anna, fields=ArticleFields(
        title='Scanner drivers', body='Install the scanner driver', visibility='internal', status='published'))
    older = await make_ticket(people, title='Scanner on floor 2 jams')
    this = await make_ticket(people, title='Scanner jams on every page')
    searches: list[str] = []
    related = engine.related

    async def counted(viewer, query, kind, **kwargs):
        searches.append(kind)
        return await related(viewer, query, kind, **kwargs)
    monkeypatch.setattr(engine, 'related', counted)

    similar, articles = await search_queries.related_to_ticket(anna, this.id)
    assert [h.id for h in similar] == [older.id]
    assert [h.title_html for h in articles] == ['<mark>Scanner</mark> drivers']
    assert await search_queries.related_to_ticket(ben, this.id) == (similar, articles)
    assert searches == ['ticket', 'article']  # Ben's page took Anna's answer

    # the customer (ACME's Carl may see this request): no similar tickets, no internal article — not staff's answer
    assert await search_queries.related_to_ticket(carl, this.id) == ([], [])
    assert await search_queries.related_to_ticket(tom, this.id) == ([], [])  # Globex's Tom may not see it at all

    # a new title is another text: searched again at once
    await tickets.update_ticket(actor=anna, ticket_id=this.id, expected_version=this.version,
                                changes={'title': 'Printer shows E-53'})
    similar, articles = await search_queries.related_to_ticket(ben, this.id)
    assert similar == [] and articles == []

    # and the answer is only kept a moment: a similar ticket made since shows once it is over
    searches.clear()
    await make_ticket(people, title='Printer shows E-53 after the update')
    assert await search_queries.related_to_ticket(anna, this.id) == ([], [])
    assert searches == []
    monkeypatch.setattr(search_queries, 'RELATED_KEPT_S', 0.0)
    similar, _ = await search_queries.related_to_ticket(anna, this.id)
    assert len(similar) == 1 and searches == ['ticket', 'article']
