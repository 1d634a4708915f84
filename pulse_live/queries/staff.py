"""The staff directory for the admins' staff page: who works here, in which role and queues, whether they have
signed in yet (an invitation not yet taken up), and how many open tickets they own."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from .. import auth, db
from ..models import STAFF_ROLES, Queue, QueueMember, Role, Status, Ticket, User

OPEN_STATUSES = (Status.OPEN.value, Status.IN_PROGRESS.value, Status.WAITING.value)  # waiting: still open
ROLE_ORDER = {Role.ADMIN.value: 0, Role.MANAGER.value: 1, Role.AGENT.value: 2}


@dataclass
class StaffRow:
    id: int
    name: str
    email: str
    handle: str
    role: str
    is_active: bool
    last_login_at: datetime | None
    created_at: datetime
    open_tickets: int = 0
    queue_ids: list[int] = field(default_factory=list)

    @property
    def invited(self) -> bool:
        """Has never signed in (the invitation's password link not used yet)."""
        return self.last_login_at is None


@dataclass
class StaffDirectory:
    rows: list[StaffRow]
    queues: dict[int, str]  # every queue, by name

    @property
    def active_admins(self) -> int:
        return sum(1 for r in self.rows if r.role == Role.ADMIN and r.is_active)


async def staff_directory(viewer: User) -> StaffDirectory | None:
    """Active staff first (admins, managers, agents; by name), then the deactivated; None for non-admins."""
    if viewer.role != Role.ADMIN:
        auth.refused(viewer, 'list', 'staff')
        return None
    open_tickets = (select(func.count(Ticket.id)).where(Ticket.assignee_id == User.id,
                                                        Ticket.status.in_(OPEN_STATUSES))
                    .correlate(User).scalar_subquery())
    async with db.session() as s:
        rows = (await s.execute(select(User.id, User.display_name, User.email, User.handle, User.role,
                                       User.is_active, User.last_login_at, User.created_at, open_tickets)
                                .where(User.role.in_([r.value for r in STAFF_ROLES]),
                                       *[User.email.notlike(f'%{domain}') for domain in auth.SYSTEM_ACCOUNT_DOMAINS]))
                ).all()
        memberships = (await s.execute(select(QueueMember.user_id, QueueMember.queue_id)
                                       .join(Queue, Queue.id == QueueMember.queue_id).order_by(Queue.name))).all()
        queues = dict((await s.execute(select(Queue.id, Queue.name).order_by(Queue.name))).all())
    by_user: dict[int, list[int]] = {}
    for user_id, queue_id in memberships:
        by_user.setdefault(user_id, []).append(queue_id)
    result = [StaffRow(id=r[0], name=r[1], email=r[2], handle=r[3] or '', role=r[4], is_active=r[5],
                       last_login_at=r[6], created_at=r[7], open_tickets=r[8] or 0, queue_ids=by_user.get(r[0], []))
              for r in rows]
    result.sort(key=lambda r: (not r.is_active, ROLE_ORDER.get(r.role, 9), r.name.lower()))
    return StaffDirectory(rows=result, queues=queues)
