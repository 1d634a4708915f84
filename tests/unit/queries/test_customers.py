"""Customer identification and the directory: search by e-mail, phone in any format, id and name; customers before
staff; the profile; deactivated customers only when asked for; none of it for customers."""
from __future__ import annotations

import logging

import pytest
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.errors import ValidationError
from pulse_live.models import MAX_ROW_ID, Service, Ticket, User
from pulse_live.queries import customers as customer_queries
from pulse_live.services import customers, tickets
from tests.factories import deactivate_customer
from tests.helpers import people_found, with_statements


async def _directory(viewer, text: str) -> list[str]:
    return [r.name for r in await customer_queries.customers(viewer, search=text)]


async def test_search_by_email_exact_and_fragment(people):
    anna = people.users['anna@pulse.demo']
    hits = await customer_queries.search_people(anna, 'carl@acme.demo')
    assert hits[0].name == 'Carl Jensen' and hits[0].matched == 'e-mail'
    assert hits[0].organisation == 'ACME Corp' and hits[0].tier == 'gold'
    assert set(await people_found(anna, 'CARL@ACME')) == {'Carl Jensen'}  # case does not matter
    assert set(await people_found(anna, '@acme.demo')) == {'Carl Jensen', 'Eva Lindqvist'}


@pytest.mark.parametrize('typed', ['+45 33 12 34 56', '0045 33 12 34 56', '004533123456', '+45-33-12-34-56',
                                   '(+45) 33.12.34.56', '33 12 34 56', '33123456'])
async def test_search_by_phone_in_any_format(people, typed):
    anna = people.users['anna@pulse.demo']
    hits = await customer_queries.search_people(anna, typed)
    assert hits and hits[0].name == 'Carl Jensen', (typed, [h.name for h in hits])
    assert hits[0].matched == 'phone'
    assert 'Eva Lindqvist' not in [h.name for h in hits]  # …34 57: one digit off is somebody else


async def test_search_international_and_national_forms_find_each_other(people):
    anna = people.users['anna@pulse.demo']
    assert (await people_found(anna, '0041315550101'))[0] == 'Anna Keller'   # stored as +41 31 555 01 01
    assert (await people_found(anna, '031 555 01 01'))[0] == 'Anna Keller'   # national form with trunk zero


async def test_numbers_are_compared_whole_never_by_their_last_digits(people):
    """A full Swiss number finds that number, not one in another country that ends the same (the old rule
    compared the last nine digits: 031 555 01 01 found +1 231 555 0101 too)."""
    anna = people.users['anna@pulse.demo']
    hans = await customers.save_customer(actor=anna, email='hans@acme.demo', display_name='Hans Muster',
                                         organisation_id=people.orgs['acme'], phone='031 555 01 01')
    assert (hans.phone, hans.phone_e164) == ('+41 31 555 01 01', '+41315550101')  # shown internationally
    mia = await customers.save_customer(actor=anna, email='mia@globex.demo', display_name='Mia Brown',
                                        organisation_id=people.orgs['globex'], phone='+1 (231) 555-0101')
    assert (mia.phone, mia.phone_e164) == ('+1 231-555-0101', '+12315550101')
    for typed in ('031 555 01 01', '+41 31 555 01 01', '0041 31 555 01 01', '315550101'):
        assert await _directory(anna, typed) == ['Hans Muster'], typed
    assert await _directory(anna, '+1 231 555 0101') == ['Mia Brown']
    assert await _directory(anna, '001 231 555 0101') == ['Mia Brown']
    hits = await customer_queries.search_people(anna, '031 555 01 01')  # staff too: Anna has the number
    assert [(h.name, h.matched) for h in hits] == [('Hans Muster', 'phone'), ('Anna Keller', 'phone')]


async def test_partial_numbers_find_people_while_typing(people):
    anna = people.users['anna@pulse.demo']
    await customers.save_customer(actor=anna, email='hans@acme.demo', display_name='Hans Muster',
                                  organisation_id=people.orgs['acme'], phone='+41 31 555 01 01')
    await customers.save_customer(actor=anna, email='mia@globex.demo', display_name='Mia Brown',
                                  organisation_id=people.orgs['globex'], phone='+1 231 555 0101')
    assert await _directory(anna, '031 555') == ['Hans Muster']            # a national beginning: +41 31 555…
    assert await _directory(anna, '+41 31 5') == ['Hans Muster']
    assert set(await _directory(anna, '555 01')) == {'Hans Muster', 'Mia Brown'}  # digits anywhere
    assert set(await _directory(anna, '+45 33 12 34')) == {'Carl Jensen', 'Eva Lindqvist'}
    hits = await customer_queries.search_people(anna, '555 01 01')
    assert {h.name for h in hits} >= {'Hans Muster', 'Anna Keller'} and {h.matched for h in hits} == {'phone'}
    exact = await customer_queries.search_people(anna, '+41 31 555 01 00')  # Ada's: the same number ranks first
    assert exact[0].name == 'Ada Admin' and 'Hans Muster' not in [h.name for h in exact]


async def test_an_old_unchecked_number_is_still_found_and_may_stay(people):
    """A number saved before numbers were checked that does not parse (migration 0007c left it as typed, without
    E.164) is found by its digits, and editing something else on the card keeps it; changing it checks it."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    async with db.session() as s, s.begin():
        await s.execute(update(User).where(User.id == carl.id).values(phone='45 33 99 8', phone_e164=''))
    assert await _directory(anna, '33 99 8') == ['Carl Jensen']
    assert await _directory(anna, '+45 33 12 34 56') == []  # no longer his number: nothing claims it is
    common = {'actor': anna, 'user_id': carl.id, 'email': carl.email, 'display_name': carl.display_name,
              'organisation_id': carl.organisation_id, 'is_org_admin': True}
    kept = await customers.save_customer(**common, phone='45 33 99 8', department='Controlling')
    assert (kept.phone, kept.phone_e164, kept.department) == ('45 33 99 8', '', 'Controlling')
    with pytest.raises(ValidationError, match='45 33 12 4 is not a possible phone number'):
        await customers.save_customer(**common, phone='45 33 12 4')
    fixed = await customers.save_customer(**common, phone='0045 33 12 34 56')
    assert (fixed.phone, fixed.phone_e164) == ('+45 33 12 34 56', '+4533123456')


async def test_search_by_id_and_name_fragments(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    by_id = await customer_queries.search_people(anna, str(carl.id))
    assert by_id[0].id == carl.id and by_id[0].matched == 'id'
    assert (await customer_queries.search_people(anna, f'#{carl.id}'))[0].id == carl.id
    assert await people_found(anna, 'jens') == ['Carl Jensen']
    assert await people_found(anna, 'JENSEN carl') == ['Carl Jensen']  # fragments in any order, any case
    assert await people_found(anna, 'lindq') == ['Eva Lindqvist']
    assert await people_found(anna, 'nobody-like-this') == []
    assert await people_found(anna, 'x') == []  # too short to mean anything


async def test_customers_come_before_staff(people):
    anna = people.users['anna@pulse.demo']
    hits = await customer_queries.search_people(anna, '.demo', limit=20)
    roles = [h.role for h in hits]
    assert roles == sorted(roles, key=lambda r: r != 'customer') and 'customer' in roles and 'agent' in roles


async def test_customers_cannot_search_people(people, caplog):
    carl = people.users['carl@acme.demo']
    with caplog.at_level(logging.WARNING, logger='pulse_live.security'):
        assert await customer_queries.search_people(carl, 'tom@globex.demo') == []
        assert await customer_queries.customer_profile(carl, people.users['tom@globex.demo'].id) is None
    assert sum('refused' in r.message for r in caplog.records) == 2


async def test_profile_has_card_items_and_recent_tickets(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN drops', customer_id=carl.id, channel='phone')
    profile = await customer_queries.customer_profile(anna, carl.id)
    assert (profile.name, profile.email, profile.phone) == ('Carl Jensen', 'carl@acme.demo', '+45 33 12 34 56')
    assert (profile.location, profile.department, profile.organisation, profile.tier) == \
        ('Copenhagen', 'Finance', 'ACME Corp', 'gold')
    laptop = next(i for i in profile.items if i.name == 'Laptop CPH-LT-0231')
    assert laptop.serial_number == 'PF3KX8Q1' and laptop.operating_system.startswith('Windows 11')
    assert 'Cisco AnyConnect 4.10' in laptop.installed_software
    assert any(i.kind == 'software' and i.version for i in profile.items)
    assert any(i.name == 'Printer floor 3' and i.user_id is None for i in profile.items)  # shared by ACME
    assert not any(i.name.startswith('Laptop CPH-LT-0187') for i in profile.items)  # Eva's
    assert [(t.reference, t.status) for t in profile.tickets] == [(ticket.reference, 'open')]
    assert (profile.open_count, profile.total_count) == (1, 1)


async def test_deactivated_customer_is_listed_when_asked_for(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await deactivate_customer(anna, tom)

    # the directory hides them by default, and so does caller identification (no tickets for them)
    assert tom.id not in [r.id for r in await customer_queries.customers(anna)]
    assert tom.id not in [h.id for h in await customer_queries.search_people(anna, 'tom@globex.demo')]

    # "Show inactive": listed, marked inactive, and found by the directory's search too
    rows = {r.id: r for r in await customer_queries.customers(anna, include_inactive=True)}
    assert rows[tom.id].is_active is False
    assert all(r.is_active for r in rows.values() if r.id != tom.id)
    found = await customer_queries.customers(anna, search='tom@globex', include_inactive=True)
    assert [(r.id, r.is_active) for r in found] == [(tom.id, False)]
    hits = await customer_queries.search_people(anna, 'tom@globex.demo', include_inactive=True)
    assert [(h.id, h.is_active) for h in hits] == [(tom.id, False)]


async def _tickets_in(people, customer_email: str, statuses: list[str], service_id: int | None = None) -> None:
    """Tickets Anna opens for a customer, then put in ``statuses`` (as stored; the workflow is not under test)."""
    anna = people.users['anna@pulse.demo']
    for n, status in enumerate(statuses):
        ticket = await tickets.create_ticket(actor=anna, title=f'{customer_email} {n} {status}',
                                             customer_id=people.users[customer_email].id, service_id=service_id)
        async with db.session() as s, s.begin():
            await s.execute(update(Ticket).where(Ticket.id == ticket.id).values(status=status))


async def test_directory_counts_each_listed_customer_s_open_tickets_only(people):
    """Open, in progress and waiting count; resolved and closed do not; nobody's tickets count for somebody else,
    whichever filter lists them (inactive, search, organisation). The same counts per organisation and service."""
    anna, carl, eva, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo',
                                                      'tom@globex.demo'))
    async with db.session() as s:
        vpn = (await s.execute(select(Service.id).where(Service.name == 'VPN'))).scalar_one()
    await _tickets_in(people, 'carl@acme.demo', ['open', 'in_progress', 'waiting', 'resolved', 'closed'], vpn)
    await _tickets_in(people, 'eva@acme.demo', ['closed', 'resolved'])
    await _tickets_in(people, 'tom@globex.demo', ['open', 'open', 'closed'], vpn)
    await deactivate_customer(anna, tom)

    listed = {r.id: r.open_tickets for r in await customer_queries.customers(anna)}
    assert listed == {carl.id: 3, eva.id: 0}
    every = await customer_queries.customers(anna, include_inactive=True)
    assert [(r.name, r.open_tickets, r.is_active) for r in every] == \
        [('Carl Jensen', 3, True), ('Eva Lindqvist', 0, True), ('Tom Baker', 2, False)]  # by organisation, name
    assert [(r.id, r.open_tickets) for r in await customer_queries.customers(anna, search='tom@globex',
                                                                             include_inactive=True)] == [(tom.id, 2)]
    assert [(r.id, r.open_tickets) for r in await customer_queries.customers(anna, search='lindq')] == [(eva.id, 0)]
    assert [r.open_tickets for r in await customer_queries.customers(
        anna, organisation_id=people.orgs['acme'])] == [3, 0]
    assert [r.name for r in await customer_queries.customers(anna, include_inactive=True, limit=2)] == \
        ['Carl Jensen', 'Eva Lindqvist']
    # the profile counts every ticket of theirs, the directory only the open ones
    profile = await customer_queries.customer_profile(anna, carl.id)
    assert (profile.open_count, profile.total_count) == (3, 5)

    orgs = {r.id: (r.people, r.open_tickets) for r in await customer_queries.organisations(anna)}
    assert orgs[people.orgs['acme']] == (2, 3) and orgs[people.orgs['globex']] == (0, 2)
    assert orgs[people.orgs['provider']][1] == 0
    services = {r.name: r.open_tickets for r in await customer_queries.services(anna)}
    assert services['VPN'] == 5 and services['E-mail'] == 0


async def test_directory_counts_open_tickets_in_one_read_per_page_along_the_customer_index(people, database):
    """The count was correlated to each listed customer and tickets had no index on customer_id: every load of
    /customers read all tickets once per customer (2.6 s of CPU with 30,000 tickets). Now the listing is one read
    and the counts one grouped read of the listed customers' tickets along ix_tickets_customer_status, however
    many customers are listed."""
    anna = people.users['anna@pulse.demo']
    for n in range(30):
        await customers.save_customer(actor=anna, email=f'c{n}@acme.demo', display_name=f'Customer {n:02}',
                                      organisation_id=people.orgs['acme'])
    await _tickets_in(people, 'carl@acme.demo', ['open', 'closed'])
    rows, statements = await with_statements(customer_queries.customers(anna))
    assert len(rows) == 33 and sum(r.open_tickets for r in rows) == 1
    reads = [(st, params) for st, params in statements if st.lstrip().upper().startswith('SELECT')]
    assert len(reads) == 2, reads  # the page, then its counts: not one per customer
    count, params = next((st, params) for st, params in reads if 'tickets' in st)
    assert 'GROUP BY' in count.upper() and 'users' not in count
    if database != 'sqlite':
        return  # PostgreSQL plans by its statistics
    async with db.engine().connect() as conn:  # the statement as it ran
        plan = ' '.join(str(row[-1]) for row in
                        (await conn.exec_driver_sql(f'EXPLAIN QUERY PLAN {count}', params)).all())
    assert 'ix_tickets_customer_status' in plan, plan
    assert 'SCAN tickets' not in plan and 'SCAN t ' not in f'{plan} ' and 'CORRELATED' not in plan, plan


async def test_a_customer_s_profile_reads_their_tickets_along_indexes(people, database):
    """A customer's tickets are those they are the customer of or created ("customer_id = X OR creator_id = X"):
    with no index on creator_id SQLite read every ticket for the profile's count (4.9 ms at 10,000 tickets), on
    every ticket page an agent opens (its customer panel). Both of the profile's ticket reads go along indexes."""
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    await _tickets_in(people, 'carl@acme.demo', ['open', 'closed'])
    profile, statements = await with_statements(customer_queries.customer_profile(anna, carl.id))
    assert (profile.open_count, profile.total_count) == (1, 2)
    reads = [(st, params) for st, params in statements if 'FROM tickets' in st and 'creator_id' in st]
    assert len(reads) == 2, statements  # the counts and the recent ones
    if database != 'sqlite':
        return  # PostgreSQL plans by its statistics
    async with db.engine().connect() as conn:
        for statement, params in reads:
            plan = ' '.join(str(row[-1]) for row in
                            (await conn.exec_driver_sql(f'EXPLAIN QUERY PLAN {statement}', params)).all())
            assert 'ix_tickets_creator' in plan and 'SCAN tickets' not in plan, plan


async def test_the_largest_id_a_page_accepts_is_answered_not_found_by_the_database(people, database):
    """Page URLs took ids up to 2**63 - 1 (/customers/3000000000, ?customer=…); ids are INTEGER columns, and
    PostgreSQL refuses a larger number for the whole query: a 500 instead of "not found"."""
    anna = people.users['anna@pulse.demo']  # (pages.params.MAX_ID is MAX_ROW_ID: importing pages here would
    assert await customer_queries.customer_profile(anna, MAX_ROW_ID) is None  # register their routes)
    assert await customer_queries.organisation_people(anna, MAX_ROW_ID) == {}


async def test_the_used_by_picker_offers_a_searched_few_and_keeps_the_current_choice(people):
    """The "used by" picker of a configuration item offered the whole organisation (10,002 people in one list, 0.5 s
    of CPU per opening of the dialog); it offers the first few matching what is typed, and the current choice."""
    from pulse_live.services import customers as customer_services
    anna, acme = people.users['anna@pulse.demo'], people.orgs['acme']
    for n in range(8):
        await customer_services.save_customer(actor=anna, email=f'worker{n}@acme.demo', display_name=f'Worker {n:02d}',
                                              organisation_id=acme)
    everyone = await customer_queries.organisation_people(anna, acme)
    assert len(everyone) >= 10
    first = await customer_queries.organisation_people(anna, acme, limit=3)
    assert list(first.values()) == sorted(everyone.values())[:3]
    carl = people.users['carl@acme.demo'].id
    found = await customer_queries.organisation_people(anna, acme, search='worker 0', keep=carl, limit=5)
    assert sorted(found.values()) == ['Carl Jensen'] + [f'Worker {n:02d}' for n in range(5)]
    assert list((await customer_queries.organisation_people(anna, acme, search='%', limit=5)).values()) == []
