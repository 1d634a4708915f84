"""The configuration a new ticket reads is kept per process (services/config_cache.py): an admin's change still
applies to the very next mail and the very next ticket from the forms, in this process and in any other."""
from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from pulse_live import db
from pulse_live.errors import ValidationError
from pulse_live.models import BusinessCalendar, Priority, PriorityRule, SlaPolicy, Ticket
from pulse_live.services import catalog, config_cache, mailboxes, rule_admin, sla_admin, tickets
from pulse_live.services._uow import unit_of_work
from pulse_live.services.mail_intake import import_mail
from tests.factories import queue_ids

from .conftest import mail

_uids = itertools.count(1)


@pytest.fixture
async def mailbox_id(people) -> int:
    """A mailbox row (the mails are handed to the import directly: no IMAP server needed here)."""
    row = await mailboxes.save_mailbox(actor=people.users['admin@pulse.demo'], name='Support', host='127.0.0.1',
                                       port=1, security='none', username='helpdesk', secret='secret',
                                       queue_id=(await queue_ids())['2nd level'])
    return row.id


async def _mail_ticket(mailbox_id: int, subject: str, body: str = 'Please help.') -> Ticket:
    outcome = await import_mail(mailbox_id=mailbox_id, uidvalidity=1, uid=next(_uids),
                                raw=mail(subject=subject, body=body))
    assert outcome.outcome == 'ticket', outcome
    async with db.session() as s:
        return (await s.execute(select(Ticket).where(Ticket.id == outcome.ticket_id))).scalar_one()


async def _priority_name(priority_id: int) -> str:
    async with db.session() as s:
        return (await s.execute(select(Priority.name).where(Priority.id == priority_id))).scalar_one()


async def _form_ticket(people, title: str, description: str = 'Please help.') -> Ticket:
    return await tickets.create_ticket(actor=people.users['anna@pulse.demo'], title=title, description=description,
                                       customer_id=people.users['carl@acme.demo'].id)


async def test_a_new_priority_rule_applies_to_the_very_next_mail_and_form_ticket(people, mailbox_id):
    before = await _mail_ticket(mailbox_id, 'Printer jam')  # the configuration is read and kept now
    loads = config_cache.loads[0]
    again = await _mail_ticket(mailbox_id, 'Printer jam again')
    assert config_cache.loads[0] == loads  # nothing changed: the kept copy served the second mail
    assert again.priority_id == before.priority_id

    await rule_admin.create_priority_rule(actor=people.users['admin@pulse.demo'], kind='keyword', match='printer',
                                          raise_by=2)
    after = await _mail_ticket(mailbox_id, 'Printer on fire')
    assert after.priority_id != before.priority_id
    assert 'printer' in after.priority_reason.lower()
    form = await _form_ticket(people, 'Printer smoking')
    assert form.priority_id == after.priority_id and 'printer' in form.priority_reason.lower()


async def test_a_changed_and_a_deleted_priority_rule_apply_at_once(people, mailbox_id):
    admin = people.users['admin@pulse.demo']
    rule = await rule_admin.create_priority_rule(actor=admin, kind='keyword', match='printer', raise_by=2)
    raised = await _mail_ticket(mailbox_id, 'Printer jam')
    await rule_admin.update_priority_rule(actor=admin, rule_id=rule.id, kind='keyword', match='scanner', raise_by=2)
    assert 'printer' not in (await _mail_ticket(mailbox_id, 'Printer jam 2')).priority_reason.lower()
    assert (await _mail_ticket(mailbox_id, 'Scanner jam')).priority_id == raised.priority_id
    await rule_admin.delete_priority_rule(actor=admin, rule_id=rule.id)
    assert 'scanner' not in (await _form_ticket(people, 'Scanner jam 2')).priority_reason.lower()


async def test_a_new_sla_policy_applies_to_the_very_next_mail_and_form_ticket(people, mailbox_id):
    admin = people.users['admin@pulse.demo']
    before = await _mail_ticket(mailbox_id, 'VPN down')
    async with db.session() as s:
        always = (await s.execute(select(BusinessCalendar.id)
                                  .where(BusinessCalendar.name == sla_admin.ALWAYS_CALENDAR))).scalar_one()
    policy = await sla_admin.save_policy(actor=admin, name='Everything in 5 minutes', calendar_id=always,
                                         first_response_minutes=5, resolution_minutes=50)
    async with db.session() as s:
        count = len((await s.execute(select(SlaPolicy.id))).all())
    for _ in range(count):  # one step at a time, to the top of the order
        await sla_admin.move_policy(actor=admin, policy_id=policy.id, delta=-1)
    after = await _mail_ticket(mailbox_id, 'VPN down again')
    assert before.sla_policy_id != policy.id and after.sla_policy_id == policy.id
    assert (after.first_response_due_at - after.created_at).total_seconds() == 5 * 60
    assert (await _form_ticket(people, 'VPN down for Carl')).sla_policy_id == policy.id
    await sla_admin.delete_policy(actor=admin, policy_id=policy.id)
    assert (await _mail_ticket(mailbox_id, 'VPN down once more')).sla_policy_id == before.sla_policy_id


async def test_a_new_default_priority_scale_applies_to_the_very_next_mail(people, mailbox_id):
    before = await _mail_ticket(mailbox_id, 'Question')
    assert await _priority_name(before.priority_id) in {'Minor', 'Major', 'Critical'}
    await catalog.set_active_scale('helpdesk-1-5')  # an ORM bulk UPDATE: the hook sees those too
    after = await _mail_ticket(mailbox_id, 'Another question')
    assert (await _priority_name(after.priority_id))[0] in '12345'


async def test_another_process_sees_the_change_with_its_next_ticket(people, mailbox_id):
    """Two engines on one database stand for two processes: each keeps its own copy under the version it read."""
    other_engine = db.make_engine(db.engine().url.render_as_string(hide_password=False),
                                  schema=db._engine_schema[0] or '')
    other = async_sessionmaker(other_engine, expire_on_commit=False)
    try:
        async with other() as s:
            seen = await config_cache.current(s)
        async with other() as s:
            assert await config_cache.current(s) is seen  # kept: one version read, nothing else
        await rule_admin.create_priority_rule(actor=people.users['admin@pulse.demo'], kind='keyword',
                                              match='printer', raise_by=1)
        async with other() as s:
            now = await config_cache.current(s)
        assert now is not seen and now.version != seen.version
        assert any(r.match == 'printer' for r in now.priority_rules)
    finally:
        await other_engine.dispose()


async def test_a_rolled_back_change_is_never_kept(people, mailbox_id):
    before = await _mail_ticket(mailbox_id, 'Printer jam')
    with pytest.raises(ValidationError):
        async with unit_of_work() as uow:
            uow.session.add(PriorityRule(kind='keyword', match='printer', raise_by=2, position=0, is_active=True))
            await uow.session.flush()
            seen = await config_cache.current(uow.session)  # this transaction sees its own rule …
            assert any(r.match == 'printer' for r in seen.priority_rules)
            raise ValidationError('changed my mind')
    after = await _mail_ticket(mailbox_id, 'Printer jam again')  # … nobody else ever does
    assert after.priority_id == before.priority_id and 'printer' not in after.priority_reason.lower()


async def test_a_write_that_bypasses_the_orm_is_seen_after_a_bump(people, mailbox_id):
    await _mail_ticket(mailbox_id, 'Printer jam')
    async with db.engine().begin() as conn:
        await conn.execute(SlaPolicy.__table__.update().values(active=False))
        await conn.run_sync(config_cache.bump)
    assert (await _mail_ticket(mailbox_id, 'Printer jam again')).sla_policy_id is None


async def test_a_savepoint_rolled_back_keeps_the_change_made_before_it(people, mailbox_id):
    """A configuration change, then a savepoint rolled back in the same transaction: the change commits and every
    process sees it (the rollback of the savepoint must not forget that configuration changed)."""
    before = await _mail_ticket(mailbox_id, 'Printer jam')
    async with db.session() as s, s.begin():
        s.add(PriorityRule(kind='keyword', match='printer', raise_by=2, position=0, is_active=True))
        await s.flush()
        nested = await s.begin_nested()
        await nested.rollback()
    after = await _mail_ticket(mailbox_id, 'Printer jam again')
    assert after.priority_id != before.priority_id and 'printer' in after.priority_reason.lower()
