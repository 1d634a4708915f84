"""The managers' live dashboard: counts by status, priority, queue and assignee, unassigned by age, created vs
resolved per day, oldest open tickets. The figures come from the process-wide feed (components/dashboard_feed.py):
computed once per burst of changes and pushed to every watching manager."""
from __future__ import annotations

from typing import Any

from nicegui import ui

from components.badges import STATUS_COLORS
from components.dashboard_feed import feed, updated
from components.frame import frame
from components.session import require_user
from components.work_list import age_text
from pages.params import desk_page
from pulse_live.models import Role, Status
from pulse_live.queries.dashboard import Dashboard

# Quasar colour names (as stored on priorities) → CSS colours for the charts
CSS_COLORS = {'red': '#f44336', 'deep-orange': '#ff5722', 'orange': '#ff9800', 'amber-8': '#ffb300', 'blue': '#2196f3',
              'green': '#4caf50', 'grey': '#9e9e9e', 'purple': '#9c27b0', 'teal': '#009688'}


def _bar(title: str, *, horizontal: bool = False, legend: bool = False) -> dict:
    category: dict[str, Any] = {'type': 'category', 'data': []}
    value = {'type': 'value', 'minInterval': 1}
    if horizontal:
        category['inverse'] = True
    return {
        'title': {'text': title, 'left': 0, 'textStyle': {'fontSize': 14, 'fontWeight': 500}},
        'tooltip': {'trigger': 'axis'},
        'legend': {'show': legend, 'bottom': 0, 'right': 0, 'textStyle': {'fontSize': 11}},
        'grid': {'left': 8, 'right': 16, 'top': 36, 'bottom': 28 if legend else 8, 'containLabel': True},
        'xAxis': value if horizontal else category,
        'yAxis': category if horizontal else value,
        'series': [],
        'animation': False,
    }


class DashboardScreen:
    def __init__(self) -> None:
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Dashboard').classes('text-2xl font-semibold')
            ui.space()
            self.stamp = ui.label('').classes('text-sm text-slate-500').mark('dashboard-stamp')
        with ui.element('div').classes('w-full grid grid-cols-2 md:grid-cols-3 lg:grid-cols-6 gap-3'):
            self.tiles = {
                'open_total': self._tile('Open (all)', 'slate-900', 'count-open-total'),
                'unassigned': self._tile('Unassigned', 'red-700', 'count-unassigned'),
            }
            for status in Status:
                self.tiles[status.value] = self._tile(status.label, STATUS_COLORS.get(status.value, 'grey'),
                                                      f'status-count-{status.value}')
        with ui.element('div').classes('w-full grid grid-cols-2 md:grid-cols-3 lg:grid-cols-6 gap-3'):  # service levels
            self.sla_tiles = {
                'met_7': self._tile('SLA met · 7 days', 'green-600', 'sla-met-7'),
                'met_30': self._tile('SLA met · 30 days', 'green-600', 'sla-met-30'),
                'breached_now': self._tile('Breached now', 'red-600', 'sla-breached-now'),
                'at_risk': self._tile('At risk · next hour', 'amber-600', 'sla-at-risk'),
                'escalated': self._tile('Escalated', 'purple-600', 'sla-escalated'),
                'updates_late': self._tile('Update late · open', 'red-400', 'sla-updates-late'),
            }
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-2 gap-3'):
            self.sla_by_queue = self._chart(_bar('Service levels by queue', horizontal=True, legend=True))
            self.sla_by_priority = self._chart(_bar('Service levels by priority', horizontal=True, legend=True))
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-3'):
            self.by_priority = self._chart(_bar('Open by priority'))
            self.by_queue = self._chart(_bar('Open by queue', horizontal=True, legend=True))
            self.ages = self._chart(_bar('Unassigned by age'))
        with ui.element('div').classes('w-full grid grid-cols-1 lg:grid-cols-3 gap-3'):
            with ui.card().classes('lg:col-span-2 p-3'):
                self.per_day = ui.echart({
                    'title': {'text': 'Created vs resolved per day', 'left': 0,
                              'textStyle': {'fontSize': 14, 'fontWeight': 500}},
                    'tooltip': {'trigger': 'axis'}, 'legend': {'top': 0, 'right': 0, 'textStyle': {'fontSize': 11}},
                    'grid': {'left': 8, 'right': 16, 'top': 40, 'bottom': 8, 'containLabel': True},
                    'xAxis': {'type': 'category', 'data': []}, 'yAxis': {'type': 'value', 'minInterval': 1},
                    'series': [{'name': 'Created', 'type': 'bar', 'data': [], 'itemStyle': {'color': '#2563eb'}},
                               {'name': 'Resolved', 'type': 'line', 'data': [], 'smooth': True,
                                'itemStyle': {'color': '#16a34a'}}],
                    'animation': False,
                }).classes('w-full h-64').mark('chart-per-day')
            self.by_assignee = self._chart(_bar('Open by assignee', horizontal=True, legend=True))
        with ui.card().classes('w-full p-3 gap-1'):
            ui.label('Oldest open tickets').classes('font-medium')
            self.oldest = ui.column().classes('w-full gap-0').mark('oldest-open')

    @staticmethod
    def _tile(label: str, color: str, marker: str) -> ui.label:
        with ui.card().classes('p-3 gap-0'):
            ui.label(label).classes('text-xs uppercase tracking-wide text-slate-500')
            value = ui.label('0').classes('text-3xl font-semibold').mark(marker)
            ui.element('div').classes(f'h-1 w-10 rounded bg-{color}')
        return value

    @staticmethod
    def _chart(options: dict) -> ui.echart:
        with ui.card().classes('p-3'):
            return ui.echart(options).classes('w-full h-64')

    @staticmethod
    def _set_bars(chart: ui.echart, labels: list[str], series: list[tuple[str, list[int], str | list[str]]],
                  *, stacked: bool = False) -> None:
        options = chart.options
        horizontal = options['yAxis'].get('type') == 'category'
        (options['yAxis'] if horizontal else options['xAxis'])['data'] = labels
        def bars(data: list[int], color: str | list[str]) -> list:
            """A bar per value; a list of colours colours each bar (one per value)."""
            if not isinstance(color, list):
                return data
            return [{'value': v, 'itemStyle': {'color': c}} for v, c in zip(data, color, strict=True)]

        options['series'] = [
            {'name': name, 'type': 'bar', 'data': bars(data, color),
             **({'itemStyle': {'color': color}} if isinstance(color, str) else {}),
             **({'stack': 'all'} if stacked else {}), 'barMaxWidth': 36}
            for name, data, color in series]
        chart.update()

    def show(self, d: Dashboard) -> None:
        if self.stamp.is_deleted:
            return
        self.stamp.set_text(f'Live · figures of {d.computed_at:%H:%M:%S} UTC · computed in {d.took_ms:.0f} ms')
        self.tiles['open_total'].set_text(str(d.open_total))
        self.tiles['unassigned'].set_text(str(d.unassigned_total))
        for c in d.by_status:
            self.tiles[str(c.key)].set_text(str(c.count))
        sla = d.sla
        for key, value in (('met_7', sla.met_7), ('met_30', sla.met_30)):
            self.sla_tiles[key].set_text('—' if value is None else f'{value:g} %')
        for key in ('breached_now', 'at_risk', 'escalated', 'updates_late'):
            self.sla_tiles[key].set_text(str(getattr(sla, key)))
        for chart, counts in ((self.sla_by_queue, sla.by_queue), (self.sla_by_priority, sla.by_priority)):
            self._set_bars(chart, [c.label for c in counts],
                           [('Breached', [c.breached for c in counts], '#dc2626'),
                            ('At risk', [c.at_risk for c in counts], '#f59e0b'),
                            ('Escalated', [c.escalated for c in counts], '#9333ea')])
        self._set_bars(self.by_priority, [c.label for c in d.by_priority],
                       [('Open', [c.count for c in d.by_priority],
                         [CSS_COLORS.get(c.color, '#64748b') for c in d.by_priority])])
        self._set_bars(self.by_queue, [c.label for c in d.by_queue],
                       [('Unassigned', [c.extra for c in d.by_queue], '#ef4444'),
                        ('Assigned', [c.count - c.extra for c in d.by_queue], '#3b82f6')], stacked=True)
        self._set_bars(self.ages, [c.label for c in d.unassigned_age],
                       [('Unassigned', [c.count for c in d.unassigned_age], '#f59e0b')])
        top = d.by_assignee[:12]
        self._set_bars(self.by_assignee, [c.label for c in top],
                       [('In progress', [c.extra for c in top], '#d97706'),
                        ('Open', [c.count - c.extra for c in top], '#3b82f6')], stacked=True)
        self.per_day.options['xAxis']['data'] = [day[5:] for day in d.days]
        self.per_day.options['series'][0]['data'] = d.created_per_day
        self.per_day.options['series'][1]['data'] = d.resolved_per_day
        self.per_day.update()
        self.oldest.clear()
        with self.oldest:
            if not d.oldest:
                ui.label('No open tickets.').classes('text-slate-500')
            for t in d.oldest:
                with ui.row().classes('w-full items-center gap-3 py-1 border-b border-slate-100 last:border-b-0 '
                                      'text-sm no-wrap'):
                    ui.link(t.reference, f'/tickets/{t.reference}').classes('font-mono text-primary no-underline w-36')
                    ui.label(t.title).classes('grow truncate min-w-0')
                    ui.badge(t.priority, color=t.priority_color or 'grey')
                    ui.label(t.queue or '—').classes('w-28 truncate text-slate-500')
                    ui.label(t.assignee or 'unassigned').classes('w-32 truncate text-slate-500')
                    ui.label(age_text(t.created_at, d.computed_at)).classes('w-14 text-right font-medium')


@desk_page('/dashboard')
async def dashboard_page() -> None:
    user = await require_user(Role.MANAGER, Role.ADMIN)
    if user is None:
        return
    snapshot = await feed.current()
    with frame('Dashboard', user):
        screen = DashboardScreen()
        screen.show(snapshot)
    feed.watch(ui.context.client)
    updated.subscribe(screen.show)
