"""The ticket page's SLA card as markup (``components.sla_badge.panel_html``): every text escaped, the parts the
card showed as elements (header, policy, calendar, a row per target, records, notes) in the same tags and classes."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from components.sla_badge import panel_html
from pulse_live.queries.sla import BREACHED, MET, PAUSED, RUNNING, SlaView, TargetView

DUE = datetime(2031, 3, 4, 9, 30)


def _view(**values: Any) -> SlaView:
    return replace(SlaView(policy='Pulse · Critical', calendar='24/7', status='open', paused_since=None,
                           paused_seconds=0, cycle=1, escalation_level=0,
                           targets=[TargetView('First response', RUNNING, DUE, DUE - timedelta(minutes=8), 30),
                                    TargetView('Resolution', RUNNING, DUE + timedelta(hours=4), None, 240)]),
                   **values)


def test_names_an_admin_typed_are_text_not_markup() -> None:
    html = panel_html(_view(policy='<script>alert(1)</script>', calendar='<img src=x onerror="alert(2)">',
                            targets=[TargetView('<b>First</b>', RUNNING, DUE, None, 30)]))
    assert '<script' not in html and '<img' not in html and '<b>' not in html
    assert '&lt;script&gt;alert(1)&lt;/script&gt;' in html
    assert '&lt;img src=x onerror=&quot;alert(2)&quot;&gt;' in html
    assert 'data-tip="&lt;b&gt;First&lt;/b&gt; due 2031-03-04 09:30 UTC"' in html  # attributes too


def test_a_running_countdown_carries_its_due_time_for_the_head_script() -> None:
    html = panel_html(_view())
    assert '<div class="pl-sla" data-mark="sla-first-response" data-sla-due="2031-03-04T09:30:00Z" ' \
           'data-sla-risk="2031-03-04T09:22:00Z" data-sla-state="' in html
    assert 'data-mark="sla-resolution" data-sla-due="2031-03-04T13:30:00Z" data-sla-state=' in html
    assert html.startswith('<div class="nicegui-row row w-full items-center gap-2"><i class="q-icon notranslate '
                           'material-icons text-slate-500" aria-hidden="true" role="presentation" '
                           'style="font-size: 18px;">timer</i>'
                           '<div class="font-medium">Service level</div><div class="q-space"></div></div>')
    assert 'sla-escalation' not in html and 'sla-note' not in html


def test_paused_escalated_and_records() -> None:
    html = panel_html(_view(status='waiting', paused_since=DUE - timedelta(minutes=10), paused_seconds=725, cycle=2,
                            escalation_level=2,
                            targets=[TargetView('First response', PAUSED, DUE, None, 30, remaining_s=600),
                                     TargetView('Next update', BREACHED, DUE, None, 60, record=BREACHED),
                                     TargetView('Update', MET, DUE, None, 60, record=MET)]))
    assert 'data-sla-due' not in html  # a paused clock is static text
    assert '<div class="pl-sla" data-mark="sla-first-response" data-sla-state="paused" ' \
           'data-tip="First response due 2031-03-04 09:30 UTC">paused · 10 min left</div>' in html
    assert '<div class="q-badge flex inline items-center no-wrap q-badge--single-line bg-red" role="status" ' \
           'data-mark="sla-escalation">Escalated · level 2</div><' in html
    assert '<div class="text-xs text-red-700" data-mark="sla-next-update-record">an update was late this cycle' \
           '</div>' in html
    assert '<div class="text-xs text-green-700" data-mark="sla-update-record">every update on time so far' in html
    assert html.endswith('<div class="text-xs text-slate-500" data-mark="sla-note">Paused since 2031-03-04 09:20 UTC '
                         '(waiting for the customer)</div><div class="text-xs text-slate-500" data-mark="sla-note">'
                         '12 min paused so far (business time)</div><div class="text-xs text-slate-500" '
                         'data-mark="sla-note">Reopened: clock cycle 2</div>')


def test_no_policy() -> None:
    assert panel_html(None).endswith(
        '<div class="q-space"></div></div><div class="text-sm text-slate-500" data-mark="sla-none">'
        'No SLA policy applies to this ticket.</div>')
