"""SLA countdowns the browser counts down by itself, and the ticket page's SLA panel (staff only).

A running countdown is an element carrying its due instant (``data-sla-due``, UTC) and the instant it becomes at
risk (``data-sla-risk``: 75 % of the target used). One small script in the page head (``install``) updates every
such element once a second from the browser's own clock: "due in 1 h 12 min", amber (``data-sla-state="risk"``)
when at risk, red ("overdue by 5 min", ``breached``) once due. No server timer per client, no message per tick:
the server renders the element again only when the ticket changes (a pause, a reply, a recorded breach).
The state is a data attribute, not a class, so a Vue update of the element never resets it.
Paused, met and stopped clocks are static text.
"""
from __future__ import annotations

import weakref
from datetime import datetime

from nicegui import Client, context, ui

from pulse_live import auth
from pulse_live.models import CLOCK_RUNNING, User, utcnow
from pulse_live.queries import sla as sla_queries
from pulse_live.queries.sla import BREACHED, MET, PAUSED, RUNNING, SlaView, TargetView

from . import markup

SCRIPT = r'''
<style>
.pl-sla { font-variant-numeric: tabular-nums; white-space: nowrap; border-radius: 4px; padding: 0 6px;
          color: #166534; background: #dcfce7; font-size: 0.8rem; line-height: 1.5rem; display: inline-block; }
.pl-sla[data-sla-state="risk"] { color: #92400e; background: #fef3c7; }
.pl-sla[data-sla-state="breached"] { color: #fff; background: #dc2626; }
.pl-sla[data-sla-state="paused"], .pl-sla[data-sla-state="stopped"] { color: #475569; background: #e2e8f0; }
.pl-sla[data-sla-state="met"] { color: #166534; background: #dcfce7; }
</style>
<script>
(function () {
  if (window.plSla) return;
  function span(s) {
    s = Math.floor(Math.abs(s));
    var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60), sec = s % 60;
    if (d > 0) return d + ' d ' + h + ' h';
    if (h > 0) return h + ' h ' + m + ' min';
    if (m >= 10) return m + ' min';
    return (m > 0 ? m + ' min ' : '') + sec + ' s';
  }
  function tick() {
    var now = Date.now();
    document.querySelectorAll('[data-sla-due]').forEach(function (el) {
      var due = Date.parse(el.getAttribute('data-sla-due')), risk = Date.parse(el.getAttribute('data-sla-risk'));
      if (isNaN(due)) return;
      var left = (due - now) / 1000, state = left <= 0 ? 'breached' : (!isNaN(risk) && now >= risk ? 'risk' : 'ok');
      var compact = el.hasAttribute('data-sla-compact');
      var text = left > 0 ? (compact ? 'in ' : 'due in ') + span(left)
                          : (compact ? span(-left) + ' late' : 'overdue by ' + span(-left));
      if (el.textContent !== text) el.textContent = text;
      if (el.getAttribute('data-sla-state') !== state) el.setAttribute('data-sla-state', state);
    });
  }
  window.plSla = {tick: tick, span: span};
  setInterval(tick, 1000);
  document.addEventListener('DOMContentLoaded', tick);
})();
</script>
'''

_installed: weakref.WeakSet[Client] = weakref.WeakSet()


def install() -> None:
    """The countdown script in this page's head (once per page)."""
    client = context.client
    if client in _installed:
        return
    _installed.add(client)
    ui.add_head_html(SCRIPT)


def span_text(seconds: float) -> str:
    """The same words as the browser script: "1 h 12 min", "4 min 12 s", "2 d 3 h"."""
    s = int(abs(seconds))
    d, h, m, sec = s // 86400, s % 86400 // 3600, s % 3600 // 60, s % 60
    if d:
        return f'{d} d {h} h'
    if h:
        return f'{h} h {m} min'
    if m >= 10:
        return f'{m} min'
    return (f'{m} min ' if m else '') + f'{sec} s'


def iso(at: datetime) -> str:
    return f'{at:%Y-%m-%dT%H:%M:%S}Z'


def countdown_text(due_at: datetime, risk_at: datetime | None, now: datetime | None = None, *,
                   compact: bool = False) -> tuple[str, str]:
    """What the browser will show (the first paint, before the script ticks): text and state."""
    now = now or utcnow()
    left = (due_at - now).total_seconds()
    if left <= 0:
        return (f'{span_text(-left)} late' if compact else f'overdue by {span_text(-left)}'), 'breached'
    return (f'in {span_text(left)}' if compact else f'due in {span_text(left)}'), \
        ('risk' if risk_at is not None and now >= risk_at else 'ok')


def _countdown_parts(target: TargetView, *, running: bool, compact: bool = False) -> tuple[str, dict[str, str]]:
    """One target's badge as text and attributes (in the order the browser shows them): a live countdown while its
    clock runs (``data-sla-due``, the script ticks it), else static text."""
    attrs: dict[str, str] = {}
    if target.due_at is not None and running and target.state in (RUNNING, BREACHED) and not target.done:
        text, state = countdown_text(target.due_at, target.risk_at, compact=compact)
        attrs['data-sla-due'] = iso(target.due_at)
        if target.risk_at:
            attrs['data-sla-risk'] = iso(target.risk_at)
        if compact:
            attrs['data-sla-compact'] = ''
    else:
        text, state = _static(target)
    attrs['data-sla-state'] = state
    if target.due_at is not None:  # shown by the page's one tooltip script (chatter_html.TOOLTIP_JS: the work lists
        # and the ticket page's chatter install it), not by an element of its own
        attrs['data-tip'] = f'{target.name} due {target.due_at:%Y-%m-%d %H:%M} UTC'
    return text, attrs


def countdown_html(target: TargetView, *, running: bool, mark: str = '') -> str:
    """One target's badge as markup (the ticket page's SLA card): a live countdown while its clock runs (the head
    script ticks it), else static text."""
    text, attrs = _countdown_parts(target, running=running)
    return markup.label(text, 'pl-sla', mark=mark, **attrs)


def _static(target: TargetView) -> tuple[str, str]:
    if target.state == MET:
        return 'met', 'met'
    if target.state == BREACHED:
        return ('answered late' if target.done else 'breached'), 'breached'
    if target.state == PAUSED:
        left = f' · {span_text(target.remaining_s)} left' if target.remaining_s is not None else ''
        return f'paused{left}', 'paused'
    return 'stopped', 'stopped'


def is_running(view: SlaView) -> bool:
    return view.status in CLOCK_RUNNING and view.paused_since is None


def due_html(view: SlaView | None, reference: str) -> str:
    """A work list's Due cell as markup: the first pending target (or the last one), as a countdown the head script
    ticks (``data-sla-due``), or "—"; ``data-mark`` names it for tests."""
    target = view.main if view is not None else None
    mark = f'sla-due {reference}'
    if view is None or target is None:
        return markup.label('—', 'text-slate-400', mark=mark)
    install()
    text, attrs = _countdown_parts(target, running=is_running(view), compact=True)
    if 'data-sla-compact' in attrs:
        attrs['data-sla-compact'] = 'true'
    return markup.label(text, 'pl-sla justify-self-start text-xs', mark=mark, **attrs)


# the markup NiceGUI's elements rendered to (ui.row, ui.icon(size='xs'), ui.space, ui.badge(color='red')), so the card
# looks as it did when it was a tree of ~13 elements
ROW = 'nicegui-row row w-full items-center gap-2'
ICON = markup.icon('timer', 'text-slate-500')
BADGE = 'q-badge flex inline items-center no-wrap q-badge--single-line bg-red'


def panel_html(view: SlaView | None) -> str:
    """The SLA card's content as one static block: every text escaped (a policy or calendar name is an admin's
    text), the countdowns are ``[data-sla-due]`` elements the head script ticks, tooltips are ``data-tip``.
    ``data-mark`` names the parts for tests."""
    head = f'{ICON}<div class="font-medium">Service level</div><div class="q-space"></div>'
    if view is not None and view.escalation_level:
        head += (f'<div class="{BADGE}" role="status" data-mark="sla-escalation">'
                 f'Escalated · level {int(view.escalation_level)}</div>')
    parts = [f'<div class="{ROW}">{head}</div>']
    if view is None:
        parts.append(markup.label('No SLA policy applies to this ticket.', 'text-sm text-slate-500',
                                  mark='sla-none'))
        return ''.join(parts)
    parts.append(markup.label(view.policy or '', 'text-sm text-slate-700', mark='sla-policy'))
    parts.append(markup.label(view.calendar, 'text-xs text-slate-500', mark='sla-calendar'))
    running = is_running(view)
    for target in view.targets:
        key = target.name.lower().replace(' ', '-')
        row = markup.label(target.name, 'w-28 text-slate-600') \
            + countdown_html(target, running=running, mark=f'sla-{key}')
        if target.record == MET:
            row += markup.label('every update on time so far', 'text-xs text-green-700', mark=f'sla-{key}-record')
        elif target.record == BREACHED:
            row += markup.label('an update was late this cycle', 'text-xs text-red-700', mark=f'sla-{key}-record')
        parts.append(f'<div class="{ROW} text-sm">{row}</div>')
    notes = []
    if view.paused_since is not None and view.status not in ('resolved', 'closed'):
        notes.append(f'Paused since {view.paused_since:%Y-%m-%d %H:%M} UTC (waiting for the customer)')
    if view.paused_seconds:
        notes.append(f'{span_text(view.paused_seconds)} paused so far (business time)')
    if view.cycle > 1:
        notes.append(f'Reopened: clock cycle {view.cycle}')
    parts.extend(markup.label(note, 'text-xs text-slate-500', mark='sla-note') for note in notes)
    return ''.join(parts)


class SlaPanel:
    """The ticket page's SLA card (staff only): the policy, its calendar, each target's countdown, pauses.

    Two elements: the card and one ``ui.html`` (``panel_html``; ``display: contents``, so its rows are the card's
    own flex items, spaced by the card's gap). A change of the ticket replaces the markup, not an element tree."""

    def __init__(self, user: User, ticket_id: int) -> None:
        self.user, self.ticket_id = user, ticket_id
        install()
        with ui.card().classes('w-full gap-1 p-3').mark('sla-panel') as self.card:
            self.body = ui.html('', sanitize=False).style('display: contents').mark('sla-panel-body')

    async def load(self) -> None:
        if not auth.is_staff(self.user):
            return
        view = await sla_queries.ticket_sla(self.user, self.ticket_id)
        if self.card.is_deleted:
            return
        self.show(view)

    def show(self, view: SlaView | None) -> None:
        self.body.set_content(panel_html(view))
