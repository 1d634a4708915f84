"""The admin-extensible catalog: ticket types, priority scales, resolution codes."""
from __future__ import annotations

from sqlalchemy import select, update

from ..errors import NotFound
from ..models import Priority, PriorityScale, Queue, ResolutionCode, TicketType
from ._uow import unit_of_work
from .rule_admin import ensure_default_priority_rules
from .sla_admin import ensure_default_sla

DEFAULT_TYPES = ['Incident', 'Inquiry']
PRIORITY_SCALES = {
    'pulse': ('Pulse (Minor / Major / Critical)', [
        ('Critical', 'Service down or unusable', 'red'),
        ('Major', 'Significant impact, work-around hard', 'orange'),
        ('Minor', 'Small impact', 'blue'),
    ]),
    'helpdesk-1-5': ('Help desk 1–5', [
        ('1 Critical', 'Business down', 'red'),
        ('2 Critical', 'Business impacted', 'deep-orange'),
        ('3 Not critical', 'Business not impacted', 'orange'),
        ('4 Not critical', 'Business not impacted, low urgency', 'blue'),
        ('5 Little problem', 'Easy fix', 'grey'),
    ]),
}
DEFAULT_SCALE = 'pulse'
DEFAULT_PRIORITY = {'pulse': 'Minor', 'helpdesk-1-5': '3 Not critical'}
RESOLUTION_CODES = ['Fixed', 'Work-around', 'Known issue', 'By design', 'Cannot reproduce', 'Duplicate',
                    'User error', 'Third party']


async def ensure_catalog() -> None:
    """Add the shipped types, both priority scales and resolution codes if missing (idempotent)."""
    async with unit_of_work() as uow:
        s = uow.session
        have_types = set((await s.execute(select(TicketType.name))).scalars())
        for pos, name in enumerate(DEFAULT_TYPES):
            if name not in have_types:
                s.add(TicketType(name=name, position=pos))
        scales = {sc.key: sc for sc in (await s.execute(select(PriorityScale))).scalars()}
        any_active = any(sc.is_active for sc in scales.values())
        for key, (name, levels) in PRIORITY_SCALES.items():
            if key in scales:
                continue
            scale = PriorityScale(key=key, name=name, is_active=(key == DEFAULT_SCALE and not any_active))
            s.add(scale)
            await s.flush()
            for rank, (level, description, color) in enumerate(levels, start=1):
                s.add(Priority(scale_id=scale.id, name=level, description=description, rank=rank, color=color,
                               is_default=(level == DEFAULT_PRIORITY[key])))
        have_codes = set((await s.execute(select(ResolutionCode.name))).scalars())
        for name in RESOLUTION_CODES:
            if name not in have_codes:
                s.add(ResolutionCode(name=name))
        if not (await s.execute(select(Queue.id).limit(1))).first():
            s.add(Queue(name='1st level', description='First contact', is_default=True))
        await ensure_default_priority_rules(s)
        await ensure_default_sla(s)


async def set_active_scale(key: str) -> None:
    """Choose the priority scale new tickets use; existing tickets keep theirs."""
    async with unit_of_work() as uow:
        s = uow.session
        scale = (await s.execute(select(PriorityScale).where(PriorityScale.key == key))).scalar_one_or_none()
        if scale is None:
            raise NotFound(f'No priority scale {key!r}; known: {", ".join(PRIORITY_SCALES)}.')
        await s.execute(update(PriorityScale).values(is_active=False))
        await s.execute(update(PriorityScale).where(PriorityScale.id == scale.id).values(is_active=True))
