"""Customer identification (search by e-mail, phone in any format, id, name), the directory services with their
validation, portal visibility and the customer's reopen window. Runs on SQLite and PostgreSQL."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from pulse_live import db
from pulse_live.config import reset_settings
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import AuditLog, ConfigurationItem, Ticket, User
from pulse_live.queries import customers as customer_queries
from pulse_live.queries import portal as portal_queries
from pulse_live.queries.tickets import find_ticket_id, ticket_attachments
from pulse_live.services import customers, tickets, users
from pulse_live.storage import UploadedFile


async def _names(viewer, text: str) -> list[str]:
    return [h.name for h in await customer_queries.search_people(viewer, text)]


# --- search -----------------------------------------------------------------------------------------------

async def test_search_by_email_exact_and_fragment(people):
    anna = people.users['anna@pulse.demo']
    hits = await customer_queries.search_people(anna, 'carl@acme.demo')
    assert hits[0].name == 'Carl Jensen' and hits[0].matched == 'e-mail'
    assert hits[0].organisation == 'ACME Corp' and hits[0].tier == 'gold'
    assert set(await _names(anna, 'CARL@ACME')) == {'Carl Jensen'}  # case does not matter
    assert set(await _names(anna, '@acme.demo')) == {'Carl Jensen', 'Eva Lindqvist'}


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
    assert (await _names(anna, '0041315550101'))[0] == 'Anna Keller'   # stored as +41 31 555 01 01
    assert (await _names(anna, '031 555 01 01'))[0] == 'Anna Keller'   # national form with trunk zero


async def _directory(viewer, text: str) -> list[str]:
    return [r.name for r in await customer_queries.customers(viewer, search=text)]


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


async def test_addresses_are_checked_by_the_library_and_stored_in_one_form(people):
    anna, acme = people.users['anna@pulse.demo'], people.orgs['acme']
    new = await customers.save_customer(actor=anna, email='Joerg@Bücher.example', display_name='Jörg Bücher',
                                        organisation_id=acme)
    assert new.email == 'joerg@xn--bcher-kva.example'  # the domain in ASCII: every mail server delivers to it
    with pytest.raises(ValidationError, match='exists already: Jörg Bücher'):  # the same address, other spelling
        await customers.save_customer(actor=anna, email='joerg@xn--bcher-kva.example', display_name='J',
                                      organisation_id=acme)
    with pytest.raises(ValidationError, match='jörg@bücher.example is not a valid e-mail address: Internationalized '
                                              'characters before the @-sign are not supported'):
        await customers.save_customer(actor=anna, email='jörg@bücher.example', display_name='J', organisation_id=acme)


async def test_staff_cards_and_new_accounts_check_numbers_and_addresses(people):
    ben = people.users['ben@pulse.demo']
    card = await users.update_card(actor=ben, display_name='Ben Okafor', handle='ben', phone='079 123 45 67')
    assert (card.phone, card.phone_e164) == ('+41 79 123 45 67', '+41791234567')
    with pytest.raises(ValidationError, match=r'079 123 45 is not a possible phone number in Switzerland'):
        await users.update_card(actor=ben, display_name='Ben Okafor', handle='ben', phone='079 123 45')
    assert people.users['anna@pulse.demo'].phone_e164 == '+41315550101'  # the demo people have theirs
    with pytest.raises(ValidationError, match='not a valid e-mail address: .*two periods'):
        await users.create_user(actor=None, email='zoe..x@pulse.demo', password='secret', role='agent',
                                display_name='Zoe', organisation_id=people.orgs['provider'])
    with pytest.raises(ValidationError, match=r'\+41 12 345 is not a possible phone number'):
        await users.create_user(actor=None, email='zoe@pulse.demo', password='secret', role='agent',
                                display_name='Zoe', organisation_id=people.orgs['provider'], phone='+41 12 345')


async def test_search_by_id_and_name_fragments(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    by_id = await customer_queries.search_people(anna, str(carl.id))
    assert by_id[0].id == carl.id and by_id[0].matched == 'id'
    assert (await customer_queries.search_people(anna, f'#{carl.id}'))[0].id == carl.id
    assert await _names(anna, 'jens') == ['Carl Jensen']
    assert await _names(anna, 'JENSEN carl') == ['Carl Jensen']  # fragments in any order, any case
    assert await _names(anna, 'lindq') == ['Eva Lindqvist']
    assert await _names(anna, 'nobody-like-this') == []
    assert await _names(anna, 'x') == []  # too short to mean anything


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


# --- directory services: validation and rights ------------------------------------------------------------

async def test_create_customer_validates_and_is_audited(people):
    anna = people.users['anna@pulse.demo']
    acme = people.orgs['acme']
    new = await customers.save_customer(actor=anna, email=' Nina.Holm@ACME.demo ', display_name='Nina Holm',
                                        organisation_id=acme, phone='+45 (33) 12-34-99')
    assert new.email == 'nina.holm@acme.demo' and new.role == 'customer' and not new.is_org_admin
    assert (await _names(anna, '0045 33 12 34 99')) == ['Nina Holm']
    for kwargs, message in [
        ({'email': 'CARL@acme.demo'}, 'exists already'),
        ({'email': 'not-an-address'}, 'not a valid e-mail'),
        ({'email': ''}, 'E-mail is required'),
        ({'phone': 'call me maybe'}, 'call me maybe is not a phone number'),
        ({'phone': '12'}, '12 is not a possible phone number in Switzerland'),
        ({'phone': '+41 12 345'}, r'\+41 12 345 is not a possible phone number in Switzerland \(\+41\)'),
        ({'email': 'a..b@acme.demo'}, 'two periods in a row'),
        ({'display_name': '  '}, 'Name is required'),
        ({'organisation_id': 99999}, 'Choose an organisation'),
    ]:
        args = {'actor': anna, 'email': 'someone@acme.demo', 'display_name': 'Some One', 'organisation_id': acme,
                **kwargs}
        with pytest.raises(ValidationError, match=message):
            await customers.save_customer(**args)
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email == 'someone@acme.demo'))).first() is None
        audit = (await s.execute(select(AuditLog).where(AuditLog.entity == 'customer',
                                                        AuditLog.entity_id == new.id))).scalars().all()
    assert [a.action for a in audit] == ['create'] and audit[0].actor_id == anna.id


async def test_edit_customer_keeps_own_email_and_records_changes(people):
    anna, eva = people.users['anna@pulse.demo'], people.users['eva@acme.demo']
    updated = await customers.save_customer(actor=anna, user_id=eva.id, email='EVA@acme.demo', display_name='Eva Lindqvist',
                                            organisation_id=eva.organisation_id, phone='+45 33 12 34 58',
                                            location='Aarhus', department='Sales')
    assert (updated.phone, updated.location) == ('+45 33 12 34 58', 'Aarhus')
    async with db.session() as s:
        audit = (await s.execute(select(AuditLog).where(AuditLog.entity == 'customer', AuditLog.entity_id == eva.id,
                                                        AuditLog.action == 'update'))).scalars().all()
    assert 'Location Copenhagen → Aarhus' in audit[-1].summary
    with pytest.raises(PermissionDenied):  # staff accounts are not edited as customers
        await customers.save_customer(actor=anna, user_id=people.users['ben@pulse.demo'].id, email='ben@pulse.demo',
                                      display_name='Ben', organisation_id=people.orgs['provider'])


async def test_only_managers_and_admins_grant_org_admin(people):
    anna, maria, eva = (people.users[e] for e in ('anna@pulse.demo', 'maria@pulse.demo', 'eva@acme.demo'))
    common = {'user_id': eva.id, 'email': eva.email, 'display_name': eva.display_name, 'organisation_id': eva.organisation_id}
    with pytest.raises(PermissionDenied, match='managers and admins'):
        await customers.save_customer(actor=anna, is_org_admin=True, **common)
    assert (await customers.save_customer(actor=maria, is_org_admin=True, **common)).is_org_admin


async def test_customers_cannot_use_directory_services(people):
    carl = people.users['carl@acme.demo']
    with pytest.raises(PermissionDenied):
        await customers.save_customer(actor=carl, email='x@acme.demo', display_name='X',
                                      organisation_id=carl.organisation_id)
    with pytest.raises(PermissionDenied):
        await customers.save_configuration_item(actor=carl, organisation_id=carl.organisation_id, name='Mine now')
    with pytest.raises(PermissionDenied):
        await customers.save_organisation(actor=carl, name='Evil Corp')
    with pytest.raises(PermissionDenied):
        await customers.save_service(actor=carl, name='Free coffee')


async def test_organisations_and_services_validation(people):
    anna, maria, admin = (people.users[e] for e in ('anna@pulse.demo', 'maria@pulse.demo', 'admin@pulse.demo'))
    with pytest.raises(PermissionDenied):
        await customers.save_organisation(actor=anna, name='Initech')
    org = await customers.save_organisation(actor=maria, name='Initech', tier='Silver')
    assert org.tier == 'silver'
    with pytest.raises(ValidationError, match='exists already'):
        await customers.save_organisation(actor=maria, name='acme corp')
    with pytest.raises(ValidationError, match='one word'):
        await customers.save_organisation(actor=maria, organisation_id=org.id, name='Initech', tier='very gold!')
    renamed = await customers.save_organisation(actor=maria, organisation_id=org.id, name='Initech AG', tier='gold')
    assert (renamed.name, renamed.tier) == ('Initech AG', 'gold')

    with pytest.raises(PermissionDenied):
        await customers.save_service(actor=maria, name='Telephony')
    service = await customers.save_service(actor=admin, name='Telephony', criticality='high')
    with pytest.raises(ValidationError, match='Criticality'):
        await customers.save_service(actor=admin, service_id=service.id, name='Telephony', criticality='urgent')
    with pytest.raises(ValidationError, match='exists already'):
        await customers.save_service(actor=admin, name='vpn')
    off = await customers.save_service(actor=admin, service_id=service.id, name='Telephony', is_active=False)
    assert off.is_active is False


async def test_configuration_items(people):
    anna, carl, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'tom@globex.demo'))
    item = await customers.save_configuration_item(
        actor=anna, user_id=carl.id, kind='hardware', name='Dock CPH-D-11', model='ThinkPad USB-C Dock',
        serial_number=' DK-55 ', installed_software=' \nfirmware 1.2\n\n')
    assert (item.organisation_id, item.serial_number, item.installed_software) == \
        (carl.organisation_id, 'DK-55', 'firmware 1.2')
    with pytest.raises(ValidationError, match='does not belong'):
        await customers.save_configuration_item(actor=anna, organisation_id=people.orgs['acme'], user_id=tom.id,
                                                name='Wrong owner')
    with pytest.raises(ValidationError, match='hardware or software'):
        await customers.save_configuration_item(actor=anna, user_id=carl.id, kind='furniture', name='Chair')
    with pytest.raises(ValidationError, match='Name is required'):
        await customers.save_configuration_item(actor=anna, user_id=carl.id, name=' ')
    await customers.set_item_active(actor=anna, item_id=item.id, active=False)
    profile = await customer_queries.customer_profile(anna, carl.id)
    assert 'Dock CPH-D-11' not in [i.name for i in profile.items]  # retired: off the card
    profile = await customer_queries.customer_profile(anna, carl.id, include_retired=True)
    assert 'Dock CPH-D-11' in [i.name for i in profile.items]  # …but never lost
    async with db.session() as s:
        assert (await s.get(ConfigurationItem, item.id)).is_active is False


# --- portal visibility --------------------------------------------------------------------------------------

async def test_customers_see_their_own_requests_org_admins_the_organisations(people):
    anna, carl, eva, tom = (people.users[e] for e in ('anna@pulse.demo', 'carl@acme.demo', 'eva@acme.demo',
                                                       'tom@globex.demo'))
    carls = await tickets.create_ticket(actor=anna, title='Carl: printer', customer_id=carl.id)
    evas = await tickets.create_ticket(actor=eva, title='Eva: mailbox')
    assert carl.is_org_admin and not eva.is_org_admin
    assert await find_ticket_id(eva, carls.reference) is None  # a colleague's request: not hers
    assert await find_ticket_id(carl, evas.reference) == evas.id  # the org admin sees it
    assert await find_ticket_id(tom, evas.reference) is None  # another organisation: never
    assert [r.reference for r in await portal_queries.requests(eva, scope='mine')] == [evas.reference]
    assert await portal_queries.requests(eva, scope='organisation') == []  # not an org admin
    assert [r.reference for r in await portal_queries.requests(carl, scope='mine')] == [carls.reference]
    assert {r.reference for r in await portal_queries.requests(carl, scope='organisation')} == \
        {carls.reference, evas.reference}


async def test_customer_request_with_files_and_urgency(people):
    carl = people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=carl, title='Screen flickers', description='Since Monday',
                                         impact='low', urgency='high',
                                         files=[UploadedFile('photo.png', 'image/png', b'\x89PNG...')])
    assert (ticket.impact, ticket.urgency, ticket.channel) == ('low', 'high', 'portal')
    attachments = await ticket_attachments(carl, ticket.id)
    assert [a.filename for a in attachments] == ['photo.png'] and not attachments[0].is_internal
    view = await portal_queries.request_view(carl, ticket.id)
    assert [e.kind for e in view.events] == ['created', 'message']
    with pytest.raises(ValidationError, match='Urgency'):
        await tickets.create_ticket(actor=carl, title='x', urgency='yesterday')


# --- the reopen window ------------------------------------------------------------------------------------

async def _resolved(people, days_ago: float = 0) -> Ticket:
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await tickets.create_ticket(actor=anna, title='VPN', customer_id=carl.id)
    ticket = await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='resolved', resolution_code_id=1, resolution_text='Renewed certificate')
    if days_ago:
        async with db.session() as s, s.begin():
            await s.execute(update(Ticket).where(Ticket.id == ticket.id)
                            .values(resolved_at=ticket.resolved_at - timedelta(days=days_ago)))
            ticket = await s.get(Ticket, ticket.id)
    return ticket


async def test_customer_reopens_within_the_window(people):
    carl = people.users['carl@acme.demo']
    ticket = await _resolved(people, days_ago=13)
    view = await portal_queries.request_view(carl, ticket.id)
    assert view.can_reopen and view.reopen_until is not None and view.resolution_text == 'Renewed certificate'
    reopened = await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                           status='open')
    assert reopened.status == 'open' and reopened.resolved_at is None


async def test_customer_cannot_reopen_after_the_window_but_can_confirm(people, monkeypatch):
    monkeypatch.setenv('PULSE_REOPEN_DAYS', '7')
    reset_settings()
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await _resolved(people, days_ago=8)
    assert not (await portal_queries.request_view(carl, ticket.id)).can_reopen
    with pytest.raises(PermissionDenied, match='more than 7 days ago'):
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version, status='open')
    with pytest.raises(PermissionDenied):  # customers never resume work themselves
        await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                    status='in_progress')
    closed = await tickets.change_status(actor=carl, ticket_id=ticket.id, expected_version=ticket.version,
                                         status='closed')
    assert closed.status == 'closed'
    other = await _resolved(people, days_ago=30)
    assert (await tickets.change_status(actor=anna, ticket_id=other.id, expected_version=other.version,
                                        status='open')).status == 'open'  # agents may always reopen


async def test_duplicate_email_names_the_existing_person_even_when_inactive(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await customers.save_customer(actor=anna, user_id=tom.id, email=tom.email, display_name=tom.display_name,
                                  organisation_id=tom.organisation_id, is_active=False)
    with pytest.raises(ValidationError, match=rf'exists already: {tom.display_name} \(#{tom.id}\), inactive\. '
                                              r'Reactivate them'):
        await customers.save_customer(actor=anna, email=tom.email.upper(), display_name='Tom again',
                                      organisation_id=tom.organisation_id)
