"""The "Error details" section of a ticket made from error reports (staff only): how often and when, the latest
event's context (release, environment, user, tags) and its stack trace. Collapsed until opened; re-read live when
the group's counter changes (``TicketChanged`` of kind ``error_count``)."""
from __future__ import annotations

from nicegui import ui

from pulse_live.models import User
from pulse_live.queries import error_reports as error_queries
from pulse_live.queries.error_reports import GroupDetails

CHANGE_KIND = 'error_count'  # services/error_reports.py publishes repeat counts as this kind of change


def _when(value) -> str:
    return f'{value:%Y-%m-%d %H:%M:%S} UTC' if value is not None else '—'


class ErrorDetails:
    def __init__(self, user: User, ticket_id: int) -> None:
        self.user, self.ticket_id = user, ticket_id
        self.expansion = ui.expansion('Error details', icon='bug_report', value=False) \
            .classes('w-full border border-slate-200 rounded').props('dense header-class="text-sm font-medium"') \
            .mark('error-details')
        self.expansion.set_visibility(False)
        with self.expansion:
            self.body = ui.column().classes('w-full gap-2 text-sm')

    async def load(self) -> None:
        details = await error_queries.group_for_ticket(self.user, self.ticket_id)
        self.show(details)

    def show(self, details: GroupDetails | None) -> None:
        self.expansion.set_visibility(details is not None)
        if details is None:
            return
        self.expansion.props(f'caption="{details.count:,} events · last {details.last_seen:%Y-%m-%d %H:%M}"')
        event = details.last_event or {}
        self.body.clear()
        with self.body:
            with ui.grid(columns='auto 1fr').classes('gap-x-4 gap-y-1 w-full'):
                rows = [('Events', f'{details.count:,}'), ('First seen', _when(details.first_seen)),
                        ('Last seen', _when(details.last_seen)), ('Source', details.source),
                        ('Where', details.culprit or '—'), ('Release', event.get('release') or '—'),
                        ('Environment', event.get('environment') or '—')]
                user = event.get('user') or {}
                if user:
                    rows.append(('User', ', '.join(f'{k}: {v}' for k, v in user.items())))
                if event.get('server_name'):
                    rows.append(('Server', event['server_name']))
                if event.get('sdk'):
                    rows.append(('SDK', event['sdk']))
                if details.regressions:
                    rows.append(('Regressions', f'{details.regressions} (last {_when(details.last_regression_at)})'))
                for label, value in rows:
                    ui.label(label).classes('text-slate-500')
                    ui.label(str(value)).classes('break-all').mark(f'error-{label.lower().replace(" ", "-")}')
            tags = event.get('tags') or {}
            if tags:
                with ui.row().classes('gap-1 flex-wrap').mark('error-tags'):
                    for key, value in tags.items():
                        ui.badge(f'{key}: {value}', color='grey-3').classes('text-slate-700')
            for exc in event.get('exceptions') or []:
                ui.label(f'{exc.get("type", "Error")}: {exc.get("value", "")}') \
                    .classes('font-mono font-medium break-all mt-2').mark('error-exception')
                frames = exc.get('frames') or []
                if frames:
                    lines = []
                    for f in frames:
                        where = f.get('filename') or f.get('module') or '?'
                        line = f'  {where}:{f.get("lineno") or "?"} in {f.get("function") or "?"}'
                        if f.get('in_app'):
                            line = '▶' + line[1:]
                        lines.append(line)
                        if f.get('context_line'):
                            lines.append(f'      {f["context_line"].strip()}')
                    # as text, never as markup: ``ui.code`` wraps its content in a markdown fence, and a frame's
                    # text (anyone with the source's public DSN writes it) closed the fence and became HTML
                    ui.label('\n'.join(lines)).classes('w-full text-xs font-mono whitespace-pre overflow-x-auto '
                                                        'bg-slate-50 rounded p-2').mark('error-stack')
            if not event.get('exceptions') and event.get('message'):
                ui.label(event['message']).classes('font-mono break-all')
