"""The demo data: the documented logins, ~60 tickets in every status with natural titles, a believable two weeks of
history, seeded without a single mail or bell entry."""
import re
from collections import Counter
from datetime import timedelta
from itertools import pairwise

from sqlalchemy import func, select

from pulse_live import auth, db
from pulse_live.models import AuditLog, ConfigurationItem, MailOutbox, Notification, Ticket, TicketEvent, User, utcnow
from pulse_live.seed.demo import seed_demo, seed_people


async def test_demo_has_logins_statuses_and_two_weeks_of_history(database):
    before = utcnow()
    await seed_demo()
    async with db.session() as s:
        roles = dict((await s.execute(select(User.email, User.role))).all())
        statuses = dict((await s.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
        tickets = list((await s.execute(select(Ticket).order_by(Ticket.id))).scalars())
        events = list((await s.execute(select(TicketEvent).order_by(TicketEvent.ticket_id, TicketEvent.id))).scalars())
    for email, role in (('admin@pulse.demo', 'admin'), ('anna@pulse.demo', 'agent'), ('ben@pulse.demo', 'agent'),
                        ('maria@pulse.demo', 'manager'), ('carl@acme.demo', 'customer')):
        assert roles[email] == role
    assert len(tickets) == 60 and set(statuses) == {'open', 'in_progress', 'resolved', 'closed'}
    now = utcnow()
    ages = [now - t.created_at for t in tickets]
    assert max(ages) > timedelta(days=12) and min(ages) < timedelta(days=1)  # spread over two weeks
    assert len({t.created_at.date() for t in tickets}) >= 10
    assert all(a.created_at < b.created_at for a, b in pairwise(tickets))  # older reference, older ticket
    by_ticket: dict[int, list] = {}
    for e in events:
        by_ticket.setdefault(e.ticket_id, []).append(e.created_at)
    for t in tickets:
        times = by_ticket[t.id]
        assert times == sorted(times) and times[0] == t.created_at and times[-1] <= now
        assert t.updated_at == times[-1]
        changes = [e for e in events if e.ticket_id == t.id and e.field in ('status', 'resolution_code_id',
                                                                            'resolution_text')]
        resolving = [e.created_at for e in changes if e.field != 'status' or e.new_value == 'Resolved']
        assert len(set(resolving)) <= 1  # one change (status + resolution) keeps one time
        if t.status in ('resolved', 'closed'):
            assert t.created_at < t.resolved_at <= t.updated_at
    assert before - timedelta(days=15) < min(t.created_at for t in tickets)
    # the demo password works for the documented logins
    assert await auth.authenticate('carl@acme.demo', 'demo', address='test') is not None
    # seeding the history told nobody: no mail sent or queued, no bell entry (it is history, not news)
    async with db.session() as s:
        assert (await s.execute(select(func.count(MailOutbox.id)))).scalar_one() == 0
        assert (await s.execute(select(func.count(Notification.id)))).scalar_one() == 0
    # titles read naturally: no "(#55)" suffixes, and no two tickets share one
    titles = [t.title for t in tickets]
    assert not [t for t in titles if re.search(r'\(#\d+\)', t)]
    assert len(set(titles)) == len(titles)


async def test_the_demo_set_up_is_the_admins_audited_work_and_a_second_run_adds_nothing(database):
    """Services, queues, their members, ACME's organisation admin and the configuration items go through the
    services as the demo admin (so the audit log shows them); ``pulse-live demo --force`` seeds the people again."""
    people = await seed_people(password_hash=auth.hash_password_sync('demo'))
    admin = people.users['admin@pulse.demo']
    assert people.users['carl@acme.demo'].is_org_admin and not people.users['eva@acme.demo'].is_org_admin
    expected = {('service', 'create'): 6, ('queue', 'create'): 2, ('queue_member', 'create'): 5,
                ('customer', 'update'): 1, ('configuration_item', 'create'): 7}

    async def state():
        async with db.session() as s:
            audit = (await s.execute(select(AuditLog.entity, AuditLog.action, AuditLog.actor_id)
                                   .order_by(AuditLog.id))).all()
            users = (await s.execute(select(func.count(User.id)))).scalar_one()
            items = (await s.execute(select(func.count(ConfigurationItem.id)))).scalar_one()
        return audit, users, items
    audit, users, items = await state()
    counts = Counter((entity, action) for entity, action, _ in audit)
    assert {key: counts[key] for key in expected} == expected
    assert {actor for entity, action, actor in audit if (entity, action) in expected} == {admin.id}
    assert (users, items) == (9, 7)
    await seed_people(password_hash=auth.hash_password_sync('demo'))
    assert await state() == (audit, users, items)
