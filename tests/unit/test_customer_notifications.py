"""A customer is told only what the portal shows them; mentions open no ticket; e-mail off still leaves the bell.
And no customer account can sit in the provider's own organisation (where its tickets are internal)."""
import pytest
from sqlalchemy import select

from pulse_live import db, presence
from pulse_live.errors import ValidationError
from pulse_live.models import MailOutbox, Notification, Organisation, Priority, ResolutionCode, User
from pulse_live.queries import portal
from pulse_live.services import chatter, customers, tickets, users
from tests.factories import make_ticket

pytestmark = pytest.mark.usefixtures('fresh_presence')  # nobody is online, nobody views


async def _texts_for(user_id: int) -> list[str]:
    async with db.session() as s:
        rows = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == user_id))).scalars())
        notes = list((await s.execute(select(Notification.text).where(Notification.user_id == user_id))).scalars())
    return [item['text'] for row in rows for item in row.items or []] + notes


async def _other_priority(ticket) -> int:
    async with db.session() as s:
        scale_id = (await s.get(Priority, ticket.priority_id)).scale_id
        return (await s.execute(select(Priority.id).where(Priority.id != ticket.priority_id,
                                                          Priority.scale_id == scale_id).limit(1))).scalar_one()


@pytest.mark.parametrize('online', [False, True], ids=['offline-mail', 'online-bell'])
async def test_customer_is_not_told_of_changes_the_portal_hides(people, online):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    if online:
        presence.connected(carl.id, 'carl-tab')
    ticket = await make_ticket(people, 'Scanner jams')
    t = await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=ticket.version,
                                    changes={'priority_id': await _other_priority(ticket),
                                             'technical_details': 'firmware 2.1 on the vendor blacklist'})
    await tickets.update_ticket(actor=anna, ticket_id=ticket.id, expected_version=t.version,
                                changes={'title': 'Scanner jams on A3'})
    texts = await _texts_for(carl.id)
    assert any('Scanner jams on A3' in text for text in texts)  # a change the portal shows reaches them
    assert not any('Priority' in text or 'blacklist' in text for text in texts), texts
    # what they are told is what the portal's conversation shows them
    shown = ' '.join(e.body or '' for e in (await portal.request_events(carl, ticket.id))[0])
    assert 'blacklist' not in shown and 'Priority' not in shown


async def test_resolution_reaches_the_customer_once_in_the_resolved_mail(people):
    anna, carl = people.users['anna@pulse.demo'], people.users['carl@acme.demo']
    ticket = await make_ticket(people, 'Scanner jams')
    async with db.session() as s, s.begin():
        fixed = (await s.execute(select(ResolutionCode.id).where(ResolutionCode.name == 'Fixed'))).scalar_one()
        await s.execute(MailOutbox.__table__.delete())  # "opened on your behalf" is not what this test is about
    await tickets.change_status(actor=anna, ticket_id=ticket.id, expected_version=ticket.version, status='resolved',
                                resolution_code_id=fixed, resolution_text='Cleaned the rollers')
    async with db.session() as s:
        kinds = sorted(r.kind for r in (await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == carl.id)))
                       .scalars())
    assert kinds == ["resolved"], await _texts_for(carl.id)


async def test_mention_tells_no_colleague_who_cannot_open_the_ticket(people):
    carl, eva = people.users['carl@acme.demo'], people.users['eva@acme.demo']
    await users.update_card(actor=eva, display_name=eva.display_name, handle='eva', card_published=True)
    ticket = await make_ticket(people, 'Scanner jams')
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='our salary list is attached, @eva')
    assert await _texts_for(eva.id) == []
    # an agent mentioned by handle is told (staff may open every ticket)
    ben = people.users['ben@pulse.demo']
    await users.update_card(actor=ben, display_name=ben.display_name, handle='ben', card_published=True)
    await chatter.post_message(actor=carl, ticket_id=ticket.id, body='@ben can you look?')
    assert any('@ben can you look?' in text for text in await _texts_for(ben.id))


async def test_offline_user_without_email_still_finds_it_in_the_bell(people):
    anna, ben = people.users['anna@pulse.demo'], people.users['ben@pulse.demo']
    async with db.session() as s, s.begin():
        (await s.get(User, ben.id)).email_notifications = False
    ticket = await make_ticket(people, 'Scanner jams')
    await chatter.post_message(actor=anna, ticket_id=ticket.id, body='Rollers ordered')
    async with db.session() as s:
        mails = list((await s.execute(select(MailOutbox).where(MailOutbox.to_user_id == ben.id))).scalars())
        notes = list((await s.execute(select(Notification.text).where(Notification.user_id == ben.id))).scalars())
    assert mails == []
    assert any('Rollers ordered' in n for n in notes)


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
