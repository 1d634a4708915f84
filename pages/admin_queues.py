"""Admins configure work management: queues and members, routing rules (ordered), prioritisation rules, and read
the audit log of those changes."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from nicegui import ui

from components.actions import AdminState
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.models import Channel, Level, Role, RuleKind, User
from pulse_live.queries import catalog
from pulse_live.queries import queues as work_queries
from pulse_live.queries.work_config import RoutingRuleView, WorkConfig, work_config
from pulse_live.services import queues, rule_admin
from pulse_live.services.customers import CRITICALITIES, TIER_SUGGESTIONS

LEVEL_OPTIONS = {1: '1 (most urgent)', 2: '2', 3: '3', 4: '4', 5: '5 (least urgent)'}


@dataclass(frozen=True)
class Choices:
    """What the forms offer, read once when the page opens."""
    agents: dict[int, str]
    types: dict[int, str]
    services: dict[int, str]
    organisations: dict[int, str]
    priorities: dict[int, str]
    match: dict[str, dict[str, str]]  # what a prioritisation rule can match, by kind (only keywords are typed)
    channels: dict[str, str]

    @classmethod
    async def read(cls) -> Choices:
        types = await catalog.ticket_types()
        tiers = sorted(set(TIER_SUGGESTIONS) | set(await work_queries.organisation_tiers()))
        return cls(agents=await catalog.agents(), types=types, services=await catalog.services(),
                   organisations=await work_queries.organisations(), priorities=await catalog.priorities(),
                   match={RuleKind.TIER.value: {t: t for t in tiers},
                          RuleKind.CRITICALITY.value: {c: c for c in reversed(CRITICALITIES)},
                          RuleKind.TYPE.value: {str(k): v for k, v in types.items()}},
                   channels={c.value: c.label for c in Channel})


class QueuesAdmin(AdminState):
    """The page's state and actions: every change goes through a service, then the page shows the new state."""

    def __init__(self, user: User, choices: Choices) -> None:
        self.user, self.choices = user, choices

    async def reload(self) -> None:
        self.body.refresh(await work_config(self.user))

    @ui.refreshable_method
    def body(self, config: WorkConfig) -> None:
        self._queues(config)
        self._routing(config)
        self._priorities(config)
        self._audit(config)

    def confirm(self, text: str, action: Callable[[], Awaitable], done: str) -> None:
        with ui.dialog() as dialog, ui.card():
            ui.label(text)
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def go() -> None:
                    dialog.close()
                    await self.call(action, done)
                ui.button('Delete', on_click=go).props('color=negative no-caps').mark('confirm-delete')
        dialog.open()

    # --- queues and their members ---
    def _queues(self, config: WorkConfig) -> None:
        with ui.card().classes('w-full gap-2').mark('admin-queues'):
            with ui.row().classes('w-full items-center'):
                ui.label('Queues').classes('text-lg font-medium')
                ui.space()
                ui.button('New queue', icon='add', on_click=lambda: self.queue_dialog()).props('flat no-caps') \
                    .mark('new-queue')
            for q in config.queues:
                self._queue_row(q)

    def _queue_row(self, q) -> None:
        user = self.user
        with ui.row().classes('w-full items-start gap-3 py-2 border-t border-slate-200 no-wrap'):
            with ui.column().classes('gap-0 w-64 shrink-0'):
                with ui.row().classes('items-center gap-2'):
                    ui.label(q.name).classes('font-medium')
                    if q.is_default:
                        ui.badge('default', color='primary').props('outline')
                ui.label(f'{q.tickets} tickets · {q.description}'.rstrip(' ·')).classes('text-xs text-slate-500')
            with ui.row().classes('grow items-center gap-1'):
                for member_id, member_name in q.members:
                    ui.chip(member_name, removable=True, color='blue-1', text_color='blue-10',
                            on_value_change=lambda e, m=member_id: None if e.value else self.call(
                                lambda: queues.remove_member(actor=user, queue_id=q.id, user_id=m),
                                'Member removed')).props('dense').mark(f'member-{q.id}-{member_id}')
                candidates = {k: v for k, v in self.choices.agents.items() if k not in dict(q.members)}
                picker = ui.select(candidates, label='Add member', with_input=True) \
                    .props('dense outlined options-dense').classes('w-48').mark(f'member-picker-{q.id}')
                ui.button(icon='person_add', on_click=lambda: self.call(
                    lambda: queues.add_member(actor=user, queue_id=q.id, user_id=picker.value),
                    'Member added')).props('flat dense').mark(f'member-add-{q.id}')
            ui.button(icon='edit', on_click=lambda: self.queue_dialog(q)).props('flat dense')
            ui.button(icon='delete', on_click=lambda: self.confirm(
                f'Delete the queue {q.name}?', lambda: queues.delete_queue(actor=user, queue_id=q.id),
                'Queue deleted')).props('flat dense color=negative')

    async def queue_dialog(self, queue=None) -> None:
        user = self.user
        with ui.dialog() as dialog, ui.card().classes('w-[28rem] max-w-full'):
            ui.label('Edit queue' if queue else 'New queue').classes('text-lg font-medium')
            name = ui.input('Name', value=queue.name if queue else '').classes('w-full').mark('queue-name')
            description = ui.input('Description', value=queue.description if queue else '').classes('w-full')
            default = ui.checkbox('Default queue (tickets no rule matches)', value=queue.is_default if queue else False)

            async def save() -> None:
                values = {'name': name.value, 'description': description.value, 'is_default': default.value}
                if queue:
                    done = await self.call(lambda: queues.update_queue(actor=user, queue_id=queue.id, **values),
                                           'Queue saved')
                else:
                    done = await self.call(lambda: queues.create_queue(actor=user, **values), 'Queue saved')
                if done:
                    dialog.close()
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps').mark('queue-save')
        dialog.open()

    # --- routing rules ---
    def _routing(self, config: WorkConfig) -> None:
        queue_options = {q.id: q.name for q in config.queues}
        with ui.card().classes('w-full gap-2').mark('admin-routing'):
            with ui.row().classes('w-full items-center'):
                ui.label('Routing rules').classes('text-lg font-medium')
                ui.label('tried in this order when a ticket is created; the first match wins, otherwise the '
                         'default queue').classes('text-sm text-slate-500')
                ui.space()
                ui.button('New rule', icon='add', on_click=lambda: self.rule_dialog(None, queue_options)) \
                    .props('flat no-caps').mark('new-routing-rule')
            if not config.routing:
                ui.label('No rules yet: every new ticket goes to the default queue.').classes('text-slate-500')
            for r in config.routing:
                self._routing_row(r, queue_options)

    def _routing_row(self, r: RoutingRuleView, queue_options: dict[int, str]) -> None:
        user = self.user
        with ui.row().classes('w-full items-center gap-2 py-1 border-t border-slate-200 no-wrap') \
                .mark(f'routing-rule routing-rule-{r.id}'):
            ui.label(f'{r.position}.').classes('w-6 text-slate-500')
            with ui.column().classes('gap-0 grow min-w-0'):
                ui.label(r.name).classes('font-medium' + ('' if r.is_active else ' line-through text-slate-400'))
                ui.label(f'If {r.conditions} → {r.queue}').classes('text-xs text-slate-500 truncate')
            ui.button(icon='arrow_upward', on_click=lambda: self.call(
                lambda: rule_admin.move_routing_rule(actor=user, rule_id=r.id, delta=-1))) \
                .props('flat dense').mark(f'rule-up-{r.id}')
            ui.button(icon='arrow_downward', on_click=lambda: self.call(
                lambda: rule_admin.move_routing_rule(actor=user, rule_id=r.id, delta=1))) \
                .props('flat dense').mark(f'rule-down-{r.id}')
            ui.button(icon='edit', on_click=lambda: self.rule_dialog(r, queue_options)).props('flat dense')
            ui.button(icon='delete', on_click=lambda: self.confirm(
                f'Delete the routing rule “{r.name}”?',
                lambda: rule_admin.delete_routing_rule(actor=user, rule_id=r.id),
                'Routing rule deleted')).props('flat dense color=negative')

    async def rule_dialog(self, view: RoutingRuleView | None, queue_options: dict[int, str]) -> None:
        user, choices = self.user, self.choices
        rule = view.rule if view else None
        with ui.dialog() as dialog, ui.card().classes('w-[32rem] max-w-full gap-2'):
            ui.label('Edit routing rule' if rule else 'New routing rule').classes('text-lg font-medium')
            ui.label('A ticket matches when every condition you set matches; empty conditions match anything.') \
                .classes('text-sm text-slate-500')
            name = ui.input('Name', value=rule.name if rule else '').classes('w-full').mark('rule-name')
            queue = ui.select(queue_options, label='Put into queue', value=rule.queue_id if rule else None) \
                .classes('w-full').mark('rule-queue')
            with ui.row().classes('w-full gap-2 no-wrap'):
                type_ = ui.select(choices.types, label='Type', clearable=True,
                                  value=rule.type_id if rule else None).classes('w-1/2')
                channel = ui.select(choices.channels, label='Channel', clearable=True,
                                    value=rule.channel if rule else None).classes('w-1/2')
            with ui.row().classes('w-full gap-2 no-wrap'):
                service = ui.select(choices.services, label='Service', clearable=True,
                                    value=rule.service_id if rule else None).classes('w-1/2')
                org = ui.select(choices.organisations, label='Organisation', clearable=True, with_input=True,
                                value=rule.organisation_id if rule else None).classes('w-1/2')
            keywords = ui.input('Keywords in title or description (comma-separated, any one matches)',
                                value=rule.keywords if rule else '').classes('w-full').mark('rule-keywords')
            active = ui.checkbox('Active', value=rule.is_active if rule else True)

            async def save() -> None:
                values = {'name': name.value, 'queue_id': queue.value, 'type_id': type_.value,
                          'service_id': service.value, 'organisation_id': org.value, 'channel': channel.value,
                          'keywords': keywords.value, 'is_active': active.value}
                if rule:
                    done = await self.call(lambda: rule_admin.update_routing_rule(actor=user, rule_id=rule.id,
                                                                                  **values), 'Routing rule saved')
                else:
                    done = await self.call(lambda: rule_admin.create_routing_rule(actor=user, **values),
                                           'Routing rule saved')
                if done:
                    dialog.close()
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps').mark('rule-save')
        dialog.open()

    # --- automatic prioritisation: the matrix and the adjustments ---
    def _priorities(self, config: WorkConfig) -> None:
        with ui.card().classes('w-full gap-2').mark('admin-priorities'):
            ui.label('Automatic prioritisation').classes('text-lg font-medium')
            ui.label('Each cell gives a level, 1 (most urgent) … 5; a level picks the active scale\'s priority of that '
                     'rank (a shorter scale folds the lowest levels into its last priority).') \
                .classes('text-sm text-slate-500')
            with ui.row().classes('w-full gap-8 items-start'):
                self._matrix(config)
                with ui.column().classes('grow gap-1 min-w-0'):
                    ui.label('Adjustments (applied in order after the matrix)').classes('text-sm font-medium')
                    if not config.priority_rules:
                        ui.label('None yet.').classes('text-sm text-slate-500')
                    for rule, text in config.priority_rules:
                        self._priority_rule_row(rule, text)
                    self._new_priority_rule()

    def _matrix(self, config: WorkConfig) -> None:
        user = self.user
        names = list(self.choices.priorities.values())
        cell_options = {level: f'{level} · {names[min(level, len(names)) - 1]}' if names else str(level)
                        for level in range(1, 6)}
        with ui.element('div').classes('grid gap-2 items-center').style('grid-template-columns: 7rem repeat(3, 9rem)'):
            ui.label('Impact ↓ Urgency →').classes('text-xs text-slate-500')
            for urgency in Level:
                ui.label(urgency.label).classes('text-sm font-medium')
            for impact in Level:
                ui.label(impact.label).classes('text-sm font-medium')
                for urgency in Level:
                    ui.select(cell_options, value=config.matrix.get((impact.value, urgency.value)),
                              on_change=lambda e, i=impact, u=urgency: self.call(
                                  lambda: rule_admin.set_matrix_level(actor=user, impact=i, urgency=u,
                                                                      level=e.value), 'Matrix saved')) \
                        .props('dense outlined options-dense').mark(f'matrix-{impact.value}-{urgency.value}')

    def _priority_rule_row(self, rule, text: str) -> None:
        user = self.user
        with ui.row().classes('w-full items-center gap-2 border-t border-slate-200 py-1 no-wrap'):
            ui.label(text).classes('grow text-sm' + ('' if rule.is_active else ' line-through text-slate-400'))
            ui.switch(value=rule.is_active, on_change=lambda e: self.call(
                lambda: rule_admin.update_priority_rule(actor=user, rule_id=rule.id, kind=rule.kind,
                                                        match=rule.match, raise_by=rule.raise_by,
                                                        level=rule.level, is_active=e.value))).props('dense')
            ui.button(icon='delete', on_click=lambda: self.confirm(
                f'Delete the rule {text}?', lambda: rule_admin.delete_priority_rule(actor=user, rule_id=rule.id),
                'Rule deleted')).props('flat dense color=negative')

    def _new_priority_rule(self) -> None:
        match_choices = self.choices.match
        with ui.row().classes('w-full items-end gap-2 pt-2'):
            kind = ui.select({k.value: k.label for k in RuleKind if k != RuleKind.MATRIX},
                             value=RuleKind.KEYWORD.value, label='When').props('dense outlined') \
                .classes('w-44').mark('prio-kind')
            match = ui.input('matches (a word or phrase)').props('dense outlined') \
                .classes('w-64').mark('prio-match')
            choice = ui.select({}, label='matches').props('dense outlined options-dense') \
                .classes('w-64').mark('prio-choice')
            choice.set_visibility(False)

            def show_match(value: str) -> None:
                options = match_choices.get(value)
                match.set_visibility(options is None)  # keywords are typed, the rest chosen
                choice.set_visibility(options is not None)
                if options is not None:
                    choice.set_options(options, value=next(iter(options), None))
            kind.on_value_change(lambda e: show_match(e.value))
            steps = ui.number('steps up', value=1, min=-4, max=4, step=1, format='%d') \
                .props('dense outlined').classes('w-24').mark('prio-steps')
            at_least = ui.select({0: '—', **LEVEL_OPTIONS}, value=0, label='at least level') \
                .props('dense outlined').classes('w-36').mark('prio-level')

            async def add_rule() -> None:
                chosen = choice.value if kind.value in match_choices else match.value
                await self.call(lambda: rule_admin.create_priority_rule(
                    actor=self.user, kind=kind.value, match=chosen or '',
                    raise_by=int(steps.value or 0), level=at_least.value or None), 'Rule added')
            ui.button('Add', on_click=add_rule).props('no-caps').mark('prio-add')

    # --- the audit log of these changes ---
    @staticmethod
    def _audit(config: WorkConfig) -> None:
        with ui.card().classes('w-full gap-1').mark('admin-audit'):
            ui.label('Audit log').classes('text-lg font-medium')
            if not config.audit:
                ui.label('No changes yet.').classes('text-sm text-slate-500')
            for entry in config.audit:
                with ui.row().classes('w-full gap-3 text-sm border-t border-slate-100 py-1 no-wrap'):
                    ui.label(f'{entry.created_at:%Y-%m-%d %H:%M}').classes('text-slate-500 w-36 shrink-0')
                    ui.label(entry.actor).classes('w-36 shrink-0')
                    ui.label(entry.summary).classes('grow')


@desk_page('/admin/queues')
async def admin_queues_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    screen = QueuesAdmin(user, await Choices.read())
    with frame('Queues & rules', user):
        ui.label('Queues & rules').classes('text-2xl font-semibold')
        screen.body(await work_config(user))
