"""The directory services (customers, organisations, services, configuration items): validation, audit, who may
use them; addresses and numbers checked by the kept libraries; no customer in the provider's own organisation."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from pulse_live import db
from pulse_live.errors import PermissionDenied, ValidationError
from pulse_live.models import (
    AuditLog,
    ConfigurationItem,
    Organisation,
    User,
)
from pulse_live.queries import customers as customer_queries
from pulse_live.services import customers
from tests.helpers import people_found

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


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


async def test_create_customer_validates_and_is_audited(people):
    anna = people.users['anna@pulse.demo']
    acme = people.orgs['acme']
    new = await customers.save_customer(actor=anna, email=' Nina.Holm@ACME.demo ', display_name='Nina Holm',
                                        organisation_id=acme, phone='+45 (33) 12-34-99')
    assert new.email == 'nina.holm@acme.demo' and new.role == 'customer' and not new.is_org_admin
    assert (await people_found(anna, '0045 33 12 34 99')) == ['Nina Holm']
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
    updated = await customers.save_customer(actor=anna, user_id=eva.id, email='EVA@acme.demo',
                                            display_name='Eva Lindqvist',
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
    common = {'user_id': eva.id, 'email': eva.email, 'display_name': eva.display_name,
              'organisation_id': eva.organisation_id}
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


async def test_duplicate_email_names_the_existing_person_even_when_inactive(people):
    anna, tom = people.users['anna@pulse.demo'], people.users['tom@globex.demo']
    await customers.save_customer(actor=anna, user_id=tom.id, email=tom.email, display_name=tom.display_name,
                                  organisation_id=tom.organisation_id, is_active=False)
    with pytest.raises(ValidationError, match=rf'exists already: {tom.display_name} \(#{tom.id}\), inactive\. '
                                              r'Reactivate them'):
        await customers.save_customer(actor=anna, email=tom.email.upper(), display_name='Tom again',
                                      organisation_id=tom.organisation_id)


async def test_no_customer_in_the_providers_own_organisation(people):
    maria = people.users['maria@pulse.demo']
    async with db.session() as s:
        provider = (await s.execute(select(Organisation).where(Organisation.is_provider.is_(True)))).scalar_one()
        acme = (await s.execute(select(Organisation).where(Organisation.name.like('ACME%')))).scalars().first()
    with pytest.raises(ValidationError, match="service provider's own organisation"):
        await customers.save_customer(actor=maria, email='mole@example.org', display_name='Mole',
                                      organisation_id=provider.id, is_org_admin=True)
    async with db.session() as s:
        assert (await s.execute(select(User).where(User.email == 'mole@example.org'))).first() is None
    carl = people.users['carl@acme.demo']
    with pytest.raises(ValidationError, match="service provider's own organisation"):
        await customers.save_customer(actor=maria, user_id=carl.id, email=carl.email, display_name=carl.display_name,
                                      organisation_id=provider.id)
    async with db.session() as s:
        assert (await s.get(User, carl.id)).organisation_id == acme.id


async def test_a_password_the_help_desk_sets_or_a_deactivation_ends_the_customers_api_tokens(people):
    """An agent setting a customer's password rescues a taken account: a token the intruder made kept working before
    (the reset link ended it, this did not); a deactivated account's tokens came back with its reactivation; a new
    sign-in address ended the sessions but not the tokens."""
    from pulse_live.services import api_tokens
    anna, carl, eva = people.users['anna@pulse.demo'], people.users['carl@acme.demo'], people.users['eva@acme.demo']
    made = await api_tokens.create_token(actor=carl, name='made by an intruder', scope='write', expires_in_days=365)
    kept = await api_tokens.create_token(actor=eva, name='eva', scope='read', expires_in_days=30)
    edit = {'email': carl.email, 'display_name': carl.display_name, 'organisation_id': carl.organisation_id,
            'is_org_admin': carl.is_org_admin}
    await customers.save_customer(actor=anna, user_id=carl.id, **edit, password='a brand new secret')
    with pytest.raises(api_tokens.TokenRefused):
        await api_tokens.authenticate(made.secret)
    assert (await api_tokens.authenticate(kept.secret))[0].id == eva.id  # nobody else's
    fresh = await api_tokens.create_token(actor=carl, name='after the rescue', scope='read', expires_in_days=30)
    await customers.save_customer(actor=anna, user_id=carl.id, **edit)  # an edit without a password: kept
    assert (await api_tokens.authenticate(fresh.secret))[0].id == carl.id
    await customers.save_customer(actor=anna, user_id=carl.id, **edit, is_active=False)
    await customers.save_customer(actor=anna, user_id=carl.id, **edit, is_active=True)
    with pytest.raises(api_tokens.TokenRefused):
        await api_tokens.authenticate(fresh.secret)
    # another sign-in address ends the sessions and links made before, and the tokens with them
    before = await api_tokens.create_token(actor=carl, name='before the move', scope='read', expires_in_days=30)
    await customers.save_customer(actor=anna, user_id=carl.id, **{**edit, 'email': 'carl.jensen@acme.demo'})
    with pytest.raises(api_tokens.TokenRefused):
        await api_tokens.authenticate(before.secret)
    assert (await api_tokens.authenticate(kept.secret))[0].id == eva.id
