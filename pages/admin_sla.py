"""Admins configure service levels: business calendars (time zone, hours per weekday, holidays of a country /
subdivision, own closed dates, or 24/7) and the ordered SLA policies (conditions → targets). Every change goes
through ``services/sla_admin.py`` (validated with clear messages, audited); open tickets' clocks follow, recomputed
by the escalation worker in batches — the page shows its progress."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from components.actions import AdminState
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.models import Channel, Role, User
from pulse_live.queries import sla as sla_queries
from pulse_live.queries.sla import CalendarRow, PolicyChoices, PolicyRow
from pulse_live.services import sla_admin
from pulse_live.services.customers import TIER_SUGGESTIONS
from pulse_live.sla.calendar import WEEKDAYS

DAY_NAMES = {'mon': 'Monday', 'tue': 'Tuesday', 'wed': 'Wednesday', 'thu': 'Thursday', 'fri': 'Friday',
             'sat': 'Saturday', 'sun': 'Sunday'}
CHANNELS = {c.value: c.label for c in Channel}
POLICY_COLUMNS = '2rem minmax(10rem,1fr) minmax(12rem,1.4fr) 8rem 6rem 6rem 6rem 9rem'
ZONES = ['Europe/Zurich', 'Europe/Berlin', 'Europe/London', 'Europe/Paris', 'America/New_York',
         'America/Los_Angeles', 'Asia/Tokyo', 'Asia/Singapore', 'Australia/Sydney', 'UTC']


def minutes_text(minutes: int | None) -> str:
    """60 → "1 h", 90 → "1 h 30 min", 2160 → "36 h"."""
    if not minutes:
        return '—'
    h, m = divmod(minutes, 60)
    return ' '.join(p for p in (f'{h} h' if h else '', f'{m} min' if m else '') if p)


def conditions_text(conditions: dict[str, Any], choices: PolicyChoices) -> str:
    names = {'priority_ids': choices.priorities, 'type_ids': choices.types, 'service_ids': choices.services,
             'queue_ids': choices.queues}
    parts = []
    for key, label in (('priority_ids', 'priority'), ('type_ids', 'type'), ('tiers', 'tier'),
                       ('service_ids', 'service'), ('queue_ids', 'queue'), ('channels', 'channel')):
        values = conditions.get(key) or []
        if not values:
            continue
        lookup = names.get(key)
        shown = [lookup.get(v, f'#{v}') if lookup else (CHANNELS.get(v, v) if key == 'channels' else v)
                 for v in values]
        parts.append(f'{label} {" or ".join(map(str, shown))}')
    return ' and '.join(parts) or 'every ticket'


class SlaAdmin(AdminState):
    def __init__(self, user: User, choices: PolicyChoices) -> None:
        self.user, self.choices = user, choices

    async def reload(self) -> None:
        calendars, policies = await sla_queries.admin_lists()
        self.body.refresh(calendars, policies)
        await self.show_progress()

    def progress_area(self) -> None:
        """Where the recompute of the open tickets' clocks shows its progress (the escalation worker does it in
        batches after a save); polled once a second only while one is pending."""
        self.progress = ui.column().classes('w-full gap-1').mark('sla-recompute')
        self.progress_timer = ui.timer(1.0, self.show_progress, active=False)

    async def show_progress(self) -> None:
        jobs = await sla_queries.clock_jobs()
        if self.progress.is_deleted:
            return
        pending = [j for j in jobs if j.finished_at is None]
        self.progress_timer.active = bool(pending)
        self.progress.clear()
        with self.progress:
            for job in pending:
                with ui.card().classes('w-full gap-1 p-3 bg-amber-50'):
                    ui.label(f'Recomputing the open tickets’ due times: {job.done:,} of {job.total:,} '
                             f'({job.reason})').classes('text-sm').mark('sla-recompute-pending')
                    ui.linear_progress(value=job.percent / 100, show_value=False).props('rounded color=amber-7')
            if not pending:
                for job in jobs:
                    ui.label(f'Due times up to date: {job.reason}; {job.changed:,} of {job.done:,} open tickets '
                             f'changed (finished {job.finished_at:%Y-%m-%d %H:%M} UTC).') \
                        .classes('text-xs text-slate-500').mark('sla-recompute-done')

    @ui.refreshable_method
    def body(self, calendars: list[CalendarRow], policies: list[PolicyRow]) -> None:
        self._policies(policies, calendars)
        self._calendars(calendars)

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

    # --- policies ---
    def _policies(self, policies: list[PolicyRow], calendars: list[CalendarRow]) -> None:
        with ui.card().classes('w-full gap-1').mark('sla-policies'):
            with ui.row().classes('w-full items-center'):
                ui.label('SLA policies').classes('text-lg font-medium')
                ui.space()
                ui.button('New policy', icon='add', on_click=lambda: self.policy_dialog(None, calendars)) \
                    .props('flat no-caps').mark('new-policy')
            ui.label('Tried in this order: the first active policy whose conditions all match a ticket sets its '
                     'targets. Times count in the policy\'s calendar.').classes('text-sm text-slate-500')
            with ui.element('div').classes('w-full grid gap-x-3 px-2 py-1 text-xs font-medium text-slate-500 '
                                           'uppercase border-b border-slate-200') \
                    .style(f'grid-template-columns: {POLICY_COLUMNS}'):
                for header in ('#', 'Name', 'Applies to', 'Calendar', 'First reply', 'Resolution', 'Update', ''):
                    ui.label(header)
            if not policies:
                ui.label('No policies: tickets get no due times.').classes('text-slate-500 px-2 py-3')
            for index, p in enumerate(policies):
                with ui.element('div').classes('w-full grid gap-x-3 px-2 py-1 items-center border-b '
                                               'border-slate-100 text-sm' + ('' if p.active else ' opacity-50')) \
                        .style(f'grid-template-columns: {POLICY_COLUMNS}').mark(f'policy-row {p.name}'):
                    ui.label(str(index + 1)).classes('text-slate-400')
                    with ui.row().classes('items-center gap-1 min-w-0'):
                        ui.label(p.name).classes('font-medium truncate')
                        if not p.active:
                            ui.badge('off', color='grey').props('outline')
                    ui.label(conditions_text(p.conditions, self.choices)).classes('text-slate-600')
                    ui.label(p.calendar).classes('truncate')
                    ui.label(minutes_text(p.first_response_minutes))
                    ui.label(minutes_text(p.resolution_minutes))
                    ui.label(minutes_text(p.update_minutes)).classes('' if p.update_minutes else 'text-slate-400')
                    with ui.row().classes('gap-0 no-wrap'):
                        ui.button(icon='arrow_upward', on_click=lambda p=p: self.call(
                            lambda: sla_admin.move_policy(actor=self.user, policy_id=p.id, delta=-1))) \
                            .props('flat dense size=sm').set_enabled(index > 0)
                        ui.button(icon='arrow_downward', on_click=lambda p=p: self.call(
                            lambda: sla_admin.move_policy(actor=self.user, policy_id=p.id, delta=1))) \
                            .props('flat dense size=sm').set_enabled(index < len(policies) - 1)
                        ui.button(icon='edit', on_click=lambda p=p: self.policy_dialog(p, calendars)) \
                            .props('flat dense size=sm').mark(f'edit-policy {p.name}')
                        ui.button(icon='delete', on_click=lambda p=p: self.confirm(
                            f'Delete the policy {p.name}? Open tickets it applies to get the next matching one.',
                            lambda: sla_admin.delete_policy(actor=self.user, policy_id=p.id), 'Policy deleted')) \
                            .props('flat dense size=sm color=negative')

    def policy_dialog(self, policy: PolicyRow | None, calendars: list[CalendarRow]) -> None:
        c = self.choices
        cond = policy.conditions if policy else {}
        with ui.dialog() as dialog, ui.card().classes('w-[40rem] max-w-full gap-2'):
            ui.label('Edit policy' if policy else 'New policy').classes('text-lg font-medium')
            name = ui.input('Name', value=policy.name if policy else '').classes('w-full').mark('policy-name')
            calendar = ui.select({r.id: r.name for r in calendars}, label='Calendar',
                                 value=policy.calendar_id if policy else (calendars[0].id if calendars else None)) \
                .classes('w-full').mark('policy-calendar')
            with ui.row().classes('w-full gap-2 no-wrap'):
                first = ui.number('First response (minutes)', value=policy.first_response_minutes if policy else 60,
                                  format='%.0f').classes('grow').mark('policy-first')
                resolution = ui.number('Resolution (minutes)', value=policy.resolution_minutes if policy else 480,
                                       format='%.0f').classes('grow').mark('policy-resolution')
                update = ui.number('Update every (minutes, optional)',
                                   value=policy.update_minutes if policy else None, format='%.0f') \
                    .classes('grow').mark('policy-update')
            ui.label('Applies to tickets with … (leave a field empty for any)').classes('text-sm text-slate-500')

            def multi(label: str, options: dict | list, key: str, mark: str) -> ui.select:
                return ui.select(options, label=label, multiple=True, value=list(cond.get(key) or [])) \
                    .props('use-chips dense options-dense').classes('w-full').mark(mark)
            priorities = multi('Priority', c.priorities, 'priority_ids', 'policy-priorities')
            types = multi('Type', c.types, 'type_ids', 'policy-types')
            tiers = multi('Customer tier', sorted(set(c.tiers) | set(TIER_SUGGESTIONS)), 'tiers', 'policy-tiers')
            services = multi('Service', c.services, 'service_ids', 'policy-services')
            queues = multi('Queue', c.queues, 'queue_ids', 'policy-queues')
            channels = multi('Channel', CHANNELS, 'channels', 'policy-channels')
            active = ui.checkbox('Active', value=policy.active if policy else True)

            async def save() -> None:
                conditions = {'priority_ids': priorities.value or [], 'type_ids': types.value or [],
                              'tiers': tiers.value or [], 'service_ids': services.value or [],
                              'queue_ids': queues.value or [], 'channels': channels.value or []}
                if await self.call(lambda: sla_admin.save_policy(
                        actor=self.user, policy_id=policy.id if policy else None, name=name.value,
                        calendar_id=calendar.value, first_response_minutes=first.value,
                        resolution_minutes=resolution.value, update_minutes=update.value,
                        conditions=conditions, active=active.value), 'Policy saved'):
                    dialog.close()
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps').mark('policy-save')
        dialog.open()

    # --- calendars ---
    def _calendars(self, calendars: list[CalendarRow]) -> None:
        with ui.card().classes('w-full gap-1').mark('sla-calendars'):
            with ui.row().classes('w-full items-center'):
                ui.label('Business calendars').classes('text-lg font-medium')
                ui.space()
                ui.button('New calendar', icon='add', on_click=lambda: self.calendar_dialog(None)) \
                    .props('flat no-caps').mark('new-calendar')
            for r in calendars:
                with ui.row().classes('w-full items-center gap-3 py-1 border-t border-slate-100 no-wrap') \
                        .mark(f'calendar-row {r.name}'):
                    with ui.column().classes('gap-0 grow min-w-0'):
                        ui.label(r.name).classes('font-medium')
                        ui.label(r.description).classes('text-sm text-slate-600')
                    ui.label(f'{r.used_by} polic{"y" if r.used_by == 1 else "ies"}').classes('text-xs text-slate-500')
                    ui.button(icon='edit', on_click=lambda r=r: self.calendar_dialog(r)) \
                        .props('flat dense size=sm').mark(f'edit-calendar {r.name}')
                    ui.button(icon='delete', on_click=lambda r=r: self.confirm(
                        f'Delete the calendar {r.name}?',
                        lambda: sla_admin.delete_calendar(actor=self.user, calendar_id=r.id), 'Calendar deleted')) \
                        .props('flat dense size=sm color=negative')

    def calendar_dialog(self, row: CalendarRow | None) -> None:
        d: dict[str, Any] = row.definition if row else {'timezone': 'Europe/Zurich',
                                        'hours': {day: ['08:00-17:00'] for day in WEEKDAYS[:5]}}
        with ui.dialog() as dialog, ui.card().classes('w-[36rem] max-w-full gap-2'):
            ui.label('Edit calendar' if row else 'New calendar').classes('text-lg font-medium')
            name = ui.input('Name', value=row.name if row else '').classes('w-full').mark('calendar-name')
            zone = ui.select(sorted(set(ZONES) | {d.get('timezone', 'UTC')}), label='Time zone', with_input=True,
                             new_value_mode='add-unique', value=d.get('timezone', 'UTC')) \
                .classes('w-full').mark('calendar-zone')
            always = ui.checkbox('Open 24/7 (no hours, holidays or closed dates)',
                                 value=bool(d.get('always_open'))).mark('calendar-always')
            hours_box = ui.column().classes('w-full gap-1')
            hours: dict[str, ui.input] = {}
            with hours_box:
                ui.label('Working hours: intervals like 08:00-12:00, 13:00-17:00; empty = closed') \
                    .classes('text-sm text-slate-500')
                for day in WEEKDAYS:
                    with ui.row().classes('w-full items-center gap-2 no-wrap'):
                        ui.label(DAY_NAMES[day]).classes('w-24 text-sm')
                        hours[day] = ui.input(value=', '.join(d.get('hours', {}).get(day, []))) \
                            .props('dense outlined').classes('grow').mark(f'calendar-hours-{day}')
                with ui.row().classes('w-full gap-2 no-wrap'):
                    country = ui.input('Holidays of country (ISO code, e.g. CH)', value=d.get('country') or '') \
                        .classes('grow').mark('calendar-country')
                    subdivision = ui.input('Subdivision (e.g. ZH)', value=d.get('subdivision') or '') \
                        .classes('w-40').mark('calendar-subdivision')
                closed = ui.textarea('Own closed dates (YYYY-MM-DD, one per line)',
                                     value='\n'.join(d.get('closed_dates') or [])) \
                    .props('autogrow').classes('w-full').mark('calendar-closed')
            hours_box.bind_visibility_from(always, 'value', backward=lambda v: not v)

            async def save() -> None:
                def intervals(text: str) -> list[str]:
                    return [p.strip() for p in (text or '').replace(';', ',').split(',') if p.strip()]
                dates = [x.strip() for x in (closed.value or '').replace(',', '\n').splitlines() if x.strip()]
                values: dict[str, Any] = {'timezone': zone.value or '', 'always_open': bool(always.value)}
                if not always.value:
                    values.update(hours={day: intervals(box.value) for day, box in hours.items()
                                         if intervals(box.value)},
                                  country=country.value or None, subdivision=subdivision.value or None,
                                  closed_dates=dates)
                if await self.call(lambda: sla_admin.save_calendar(
                        actor=self.user, calendar_id=row.id if row else None, name=name.value, **values),
                        'Calendar saved'):
                    dialog.close()
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')
                ui.button('Save', on_click=save).props('no-caps').mark('calendar-save')
        dialog.open()


@desk_page('/admin/sla')
async def admin_sla_page() -> None:
    user = await require_user(Role.ADMIN)
    if user is None:
        return
    screen = SlaAdmin(user, await sla_queries.policy_choices(TIER_SUGGESTIONS))
    calendars, policies = await sla_queries.admin_lists()
    with frame('Service levels', user):
        ui.label('Service levels').classes('text-2xl font-semibold')
        screen.progress_area()
        screen.body(calendars, policies)
    await screen.show_progress()
