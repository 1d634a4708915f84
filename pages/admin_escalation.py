"""Escalation (/admin/escalation, admins): the rules in the order the worker applies them (when: a criterion and
conditions; what: actions), switched on and off, moved, edited; the outgoing webhooks (URL, secret to copy) and their
recent deliveries (status code only, retry or discard a waiting or dead one)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.models import Role, User
from pulse_live.queries import escalation as queries
from pulse_live.services import escalation_admin, webhooks
from pulse_live.sla.escalation import CRITERION_LABELS, TARGET_LABELS

PATH = '/admin/escalation'
STATUS_COLORS = {'pending': 'blue', 'sent': 'positive', 'dead': 'negative', 'discarded': 'grey'}


def _opened(dialog: ui.dialog) -> None:
    def closed(e) -> None:
        if not e.value and not dialog.is_deleted:
            dialog.delete()
    dialog.on_value_change(closed)
    dialog.open()


def _action(rule: queries.RuleRow | None, kind: str) -> dict[str, Any] | None:
    if rule is None:
        return None
    return next((a for a in rule.actions if a.get('type') == kind), None)


async def rule_dialog(user: User, rule: queries.RuleRow | None, choices: queries.Choices,
                      on_saved: Callable[[], Awaitable[None]], where: ui.element) -> None:
    cond = rule.conditions if rule else {}
    notify = _action(rule, 'notify') or {}
    with where, ui.dialog() as dialog, ui.card().classes('w-[46rem] max-w-full gap-2'):
        ui.label('Edit rule' if rule else 'New escalation rule').classes('text-lg font-medium')
        name = ui.input('Name', value=rule.name if rule else '').props('outlined dense').classes('w-full') \
            .mark('rule-name')
        ui.label('When').classes('font-medium mt-1')
        with ui.row().classes('w-full gap-2 items-start no-wrap'):
            criterion = ui.select(CRITERION_LABELS, label='Criterion',
                                  value=rule.criterion if rule else 'target_share') \
                .props('outlined dense').classes('w-56').mark('rule-criterion')
            target = ui.select(TARGET_LABELS, label='Target', value=(rule.target if rule else None) or
                               'first_response').props('outlined dense').classes('w-44').mark('rule-target')
            share = ui.number('Share used (%)', value=(rule.share_percent if rule else None) or 75, precision=0) \
                .props('outlined dense').classes('w-36').mark('rule-share')
            minutes = ui.number('Minutes', value=(rule.minutes if rule else None) or 30, precision=0) \
                .props('outlined dense').classes('w-32').mark('rule-minutes')
        target.bind_visibility_from(criterion, 'value', backward=lambda v: v in ('target_share', 'breached'))
        share.bind_visibility_from(criterion, 'value', backward=lambda v: v == 'target_share')
        minutes.bind_visibility_from(criterion, 'value', backward=lambda v: v in ('unassigned', 'no_update'))
        around = ui.checkbox('24/7: fire outside business hours too (else it waits for the next working moment)',
                             value=rule.round_the_clock if rule else False).mark('rule-24-7')
        ui.label('Only for (empty: every ticket)').classes('font-medium mt-1')
        with ui.row().classes('w-full gap-2 no-wrap'):
            priorities = ui.select(choices.priorities, label='Priorities', multiple=True,
                                   value=cond.get('priority_ids') or []).props('outlined dense use-chips') \
                .classes('w-1/4')
            tiers = ui.select(choices.tiers, label='Customer tiers', multiple=True, value=cond.get('tiers') or []) \
                .props('outlined dense use-chips').classes('w-1/4')
            queues = ui.select(choices.queues, label='Queues', multiple=True, value=cond.get('queue_ids') or []) \
                .props('outlined dense use-chips').classes('w-1/4').mark('rule-queues')
            services = ui.select(choices.services, label='Services', multiple=True,
                                 value=cond.get('service_ids') or []).props('outlined dense use-chips') \
                .classes('w-1/4')
        ui.label('Then').classes('font-medium mt-1')
        with ui.row().classes('w-full gap-4'):
            raise_level = ui.checkbox('Raise the escalation level (1 → 2 → 3)',
                                      value=bool(_action(rule, 'raise_level')) if rule else True) \
                .mark('rule-raise-level')
            raise_priority = ui.checkbox('Raise the priority', value=bool(_action(rule, 'raise_priority')))
        with ui.row().classes('w-full gap-2 no-wrap'):
            move = ui.select(choices.queues, label='Move to queue', clearable=True,
                             value=(_action(rule, 'move_queue') or {}).get('queue_id')).props('outlined dense') \
                .classes('w-1/3')
            assign = ui.select(choices.staff, label='Assign to', clearable=True,
                               value=(_action(rule, 'assign') or {}).get('user_id')).props('outlined dense') \
                .classes('w-1/3').mark('rule-assign')
            lead = ui.checkbox("…or to the queue's lead", value=bool(_action(rule, 'assign_lead')))
        team = ui.select(choices.staff, label='Add to the team', multiple=True,
                         value=(_action(rule, 'add_team') or {}).get('user_ids') or []) \
            .props('outlined dense use-chips').classes('w-full')
        with ui.row().classes('w-full gap-2 items-center no-wrap'):
            notify_people = ui.select(choices.staff, label='Notify people', multiple=True,
                                      value=notify.get('user_ids') or []).props('outlined dense use-chips') \
                .classes('grow').mark('rule-notify-people')
            notify_managers = ui.checkbox('the managers', value=bool(notify.get('managers'))) \
                .mark('rule-notify-managers')
            notify_queue = ui.checkbox("the queue's members", value=bool(notify.get('queue_members')))
            notify_roles = ui.select({'agent': 'all agents', 'manager': 'all managers', 'admin': 'all admins'},
                                     label='Roles', multiple=True, value=notify.get('roles') or []) \
                .props('outlined dense use-chips').classes('w-44')
        with ui.row().classes('w-full gap-4 items-center'):
            ui.label('by').classes('text-sm text-slate-500')
            in_app = ui.checkbox('in-app', value='in_app' in (notify.get('channels') or ['in_app']))
            by_mail = ui.checkbox('mail', value='mail' in (notify.get('channels') or []))
            hook = ui.select(choices.endpoints, label='and call the webhook', clearable=True,
                             value=(_action(rule, 'webhook') or {}).get('endpoint_id')).props('outlined dense') \
                .classes('w-64')

        def actions() -> list[dict[str, Any]]:
            result: list[dict[str, Any]] = []
            if raise_level.value:
                result.append({'type': 'raise_level'})
            if move.value:
                result.append({'type': 'move_queue', 'queue_id': move.value})
            if assign.value:
                result.append({'type': 'assign', 'user_id': assign.value})
            elif lead.value:
                result.append({'type': 'assign_lead', 'queue_id': move.value})
            if raise_priority.value:
                result.append({'type': 'raise_priority'})
            if team.value:
                result.append({'type': 'add_team', 'user_ids': list(team.value)})
            if notify_people.value or notify_managers.value or notify_queue.value or notify_roles.value:
                result.append({'type': 'notify', 'user_ids': list(notify_people.value or []),
                               'roles': list(notify_roles.value or []),
                               'managers': bool(notify_managers.value), 'queue_members': bool(notify_queue.value),
                               'channels': [c for c, on in (('in_app', in_app.value), ('mail', by_mail.value))
                                            if on]})
            if hook.value:
                result.append({'type': 'webhook', 'endpoint_id': hook.value})
            return result

        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                kind = criterion.value
                done = await attempt(escalation_admin.save_rule(
                    actor=user, rule_id=rule.id if rule else None, name=name.value, criterion=kind,
                    target=target.value if kind in ('target_share', 'breached') else None,
                    share_percent=int(share.value) if kind == 'target_share' and share.value is not None else None,
                    minutes=int(minutes.value) if kind in ('unassigned', 'no_update') and minutes.value is not None
                    else None,
                    conditions={'priority_ids': list(priorities.value or []), 'tiers': list(tiers.value or []),
                                'queue_ids': list(queues.value or []), 'service_ids': list(services.value or [])},
                    actions=actions(), round_the_clock=bool(around.value),
                    is_active=rule.is_active if rule else True), success='Rule saved.')
                if done:
                    dialog.close()
                    await on_saved()
            ui.button('Save', on_click=save).props('no-caps unelevated').mark('rule-save')
    _opened(dialog)


async def webhook_dialog(user: User, on_saved: Callable[[], Awaitable[None]], where: ui.element) -> None:
    with where, ui.dialog() as dialog, ui.card().classes('w-[34rem] max-w-full gap-2'):
        ui.label('New webhook').classes('text-lg font-medium')
        name = ui.input('Name (e.g. SMS gateway, pager, chat)').props('outlined dense').classes('w-full') \
            .mark('webhook-name')
        url = ui.input('URL (https://…)').props('outlined dense').classes('w-full').mark('webhook-url')
        secret = ui.input('Secret (empty: one is made)').props('outlined dense').classes('w-full')
        ui.label('Each call is a signed JSON POST: X-Pulse-Signature: t=<time>,v1=<HMAC-SHA256 of "<time>.<body>">. '
                 'Private, loopback and link-local addresses are refused.').classes('text-xs text-slate-500')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                if await attempt(webhooks.create_endpoint(actor=user, name=name.value, url=url.value,
                                                          secret=secret.value or None), success='Webhook saved.'):
                    dialog.close()
                    await on_saved()
            ui.button('Save', on_click=save).props('no-caps unelevated').mark('webhook-save')
    _opened(dialog)


@desk_page(PATH)
async def escalation_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    dialogs: ui.element

    async def act(call: Awaitable[Any], success: str = '') -> None:
        if await attempt(call, success=success):
            await content.refresh()

    def show_secret(row: queries.EndpointRow) -> None:
        with dialogs, ui.dialog() as dialog, ui.card().classes('w-[32rem] max-w-full gap-2'):
            ui.label(f'Secret of {row.name}').classes('text-lg font-medium')
            ui.input(value=row.secret).props('readonly outlined dense').classes('w-full font-mono')
            with ui.row().classes('w-full justify-end'):
                ui.button('Copy', icon='content_copy', on_click=lambda: ui.clipboard.write(row.secret)) \
                    .props('flat no-caps')
                ui.button('Close', on_click=dialog.close).props('no-caps unelevated')
        _opened(dialog)

    @ui.refreshable
    async def content() -> None:
        rules, choices = await queries.rule_rows()
        ui.label('Rules (applied in this order, each once per ticket and clock cycle)') \
            .classes('text-lg font-medium mt-2')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            if not rules:
                ui.label('No rule yet: nothing escalates by itself.').classes('px-4 py-3 text-slate-500')
            for index, rule in enumerate(rules):
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200 no-wrap' +
                                      ('' if rule.is_active else ' opacity-60')).mark('rule-row'):
                    ui.label(str(index + 1)).classes('w-6 text-slate-400 font-mono')
                    with ui.column().classes('gap-0 grow min-w-0'):
                        with ui.row().classes('items-center gap-2'):
                            ui.label(rule.name).classes('font-medium')
                            ui.badge(f'fired {rule.fired}×', color='grey').props('outline')
                        ui.label(f'When {rule.when} · for {rule.where}').classes('text-sm text-slate-600')
                        ui.label(f'Then {rule.does}').classes('text-sm text-slate-600')
                    ui.switch(value=rule.is_active, on_change=lambda e, r=rule: act(
                        escalation_admin.set_active(actor=user, rule_id=r.id, is_active=e.value))) \
                        .props('dense').tooltip('On / off').mark('rule-active')
                    ui.button(icon='arrow_upward', on_click=lambda r=rule: act(
                        escalation_admin.move_rule(actor=user, rule_id=r.id, delta=-1))) \
                        .props('flat dense round').set_enabled(index > 0)
                    ui.button(icon='arrow_downward', on_click=lambda r=rule: act(
                        escalation_admin.move_rule(actor=user, rule_id=r.id, delta=1))) \
                        .props('flat dense round').set_enabled(index < len(rules) - 1)
                    ui.button(icon='edit', on_click=lambda r=rule: rule_dialog(user, r, choices, content.refresh,
                                                                              dialogs)) \
                        .props('flat dense round').mark('rule-edit')
                    ui.button(icon='delete', on_click=lambda r=rule: act(
                        escalation_admin.delete_rule(actor=user, rule_id=r.id), success=f'{r.name} deleted.')) \
                        .props('flat dense round color=negative').mark('rule-delete')
        endpoints = await queries.endpoint_rows()
        with ui.row().classes('w-full items-center mt-4'):
            ui.label('Webhooks').classes('text-lg font-medium')
            ui.space()
            ui.button('New webhook', icon='add', on_click=lambda: webhook_dialog(user, content.refresh, dialogs)) \
                .props('flat no-caps').mark('webhook-new')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            if not endpoints:
                ui.label('No webhook yet: add one to reach an SMS gateway, a pager or a chat tool.') \
                    .classes('px-4 py-3 text-slate-500')
            for e in endpoints:
                with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200 no-wrap') \
                        .mark('webhook-row'):
                    ui.label(e.name).classes('font-medium w-48 truncate')
                    ui.label(e.url).classes('font-mono text-sm text-slate-600 grow truncate')
                    ui.label(f'{e.pending} waiting · {e.dead} dead').classes('text-sm text-slate-500')
                    ui.button('Secret', icon='key', on_click=lambda e=e: show_secret(e)).props('flat dense no-caps')
                    ui.button(icon='delete', on_click=lambda e=e: act(
                        webhooks.delete_endpoint(actor=user, endpoint_id=e.id), success=f'{e.name} deleted.')) \
                        .props('flat dense round color=negative')
        deliveries = await queries.delivery_rows()
        ui.label('Recent deliveries').classes('text-lg font-medium mt-4')
        with ui.card().classes('w-full p-0 gap-0').props('flat bordered'):
            if not deliveries:
                ui.label('Nothing sent yet.').classes('px-4 py-3 text-slate-500')
            for d in deliveries:
                with ui.row().classes('w-full items-center gap-3 px-4 py-1 border-b border-slate-200 no-wrap') \
                        .mark('delivery-row'):
                    ui.badge(d.status, color=STATUS_COLORS.get(d.status, 'grey')).classes('w-20 justify-center')
                    ui.label(f'{d.endpoint} · {d.ticket_reference or "—"}').classes('text-sm w-64 truncate')
                    ui.label(f'{d.attempts} tries' + (f' · HTTP {d.last_status}' if d.last_status else '') +
                             (f' · {d.last_error}' if d.last_error and not d.last_error.startswith('HTTP') else '')) \
                        .classes('text-sm text-slate-600 grow truncate')
                    ui.label(f'{d.created_at:%Y-%m-%d %H:%M}').classes('text-xs text-slate-500')
                    if d.status in ('pending', 'dead'):
                        ui.button('Retry', on_click=lambda d=d: act(
                            webhooks.retry_delivery(actor=user, delivery_id=d.id), success='Sent again.')) \
                            .props('flat dense no-caps').mark('delivery-retry')
                        ui.button('Discard', on_click=lambda d=d: act(
                            webhooks.discard_delivery(actor=user, delivery_id=d.id))) \
                            .props('flat dense no-caps color=negative').mark('delivery-discard')

    async def new_rule() -> None:
        _, choices = await queries.rule_rows()
        await rule_dialog(user, None, choices, content.refresh, dialogs)

    with frame('Escalation', user):
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Escalation').classes('text-2xl font-semibold')
            ui.space()
            ui.button('Refresh', icon='refresh', on_click=lambda: content.refresh()).props('flat no-caps')
            ui.button('New rule', icon='add', on_click=new_rule).props('no-caps unelevated').mark('rule-new')
        ui.label('A ticket that meets a rule moves up by itself: the level flag, a queue, an owner, its priority, its '
                 'team, and word to people in-app, by mail or through a webhook. Business-hours rules wait for the '
                 'next working moment.').classes('text-sm text-slate-500')
        dialogs = ui.element('div')
        await content()
