"""A chatter entry's markup (components/chatter_html.py): everything a user typed is text, never markup."""
from __future__ import annotations

from datetime import datetime

from components.chatter_html import entry_html
from pulse_live.queries.tickets import AttachmentView, EventView

EVIL = '<img src=x onerror=alert(1)>'


def _event(**kwargs) -> EventView:
    base = {'id': 1, 'kind': 'message', 'actor': f'Mallory {EVIL}', 'actor_id': 7, 'is_internal': False,
            'created_at': datetime(2026, 12, 2, 12, 0), 'body': f'hello {EVIL} [x](javascript:alert(1))',
            'field': None, 'old_value': None, 'new_value': None}
    return EventView(**{**base, **kwargs})


def test_names_file_names_bodies_and_history_lines_are_escaped() -> None:
    attachment = AttachmentView(id=3, filename=f'{EVIL}.txt', content_type='text/plain', size=10, uploader='x',
                                created_at=datetime(2026, 12, 2), is_internal=False)
    for e in (_event(attachments=[attachment]), _event(id=2, kind='field_change', body=f'Title → {EVIL}'),
              _event(id=3, kind='call', body='', data={'direction': f'in{EVIL}', 'seconds': 60, 'caller': EVIL,
                                                       'note': EVIL})):
        html = entry_html(e, viewer_id=1)
        assert '<img' not in html and '&lt;img' in html, e.kind
        assert 'href="javascript' not in html


def test_the_authors_own_bubble_differs_and_everyone_else_shares_one_rendering() -> None:
    e = _event(id=10, body='shared')
    mine, other, third = entry_html(e, viewer_id=7), entry_html(e, viewer_id=1), entry_html(e, viewer_id=2)
    assert 'bg-blue-50' in mine and 'bg-indigo' in mine
    assert 'bg-white' in other and 'bg-teal' in other
    assert third is other  # built once, the same string for every page that sees it alike


def test_a_message_of_the_support_team_is_marked_so_and_a_customer_using_a_staff_name_is_not() -> None:
    """A customer may call themselves "Anna Keller": the badge comes from the author's role, not their name."""
    agent = entry_html(_event(id=20, actor='Anna Keller', actor_id=2, body='Hi', actor_is_staff=True), viewer_id=9)
    customer = entry_html(_event(id=21, actor='Anna Keller', actor_id=6, body='Your password?'), viewer_id=9)
    assert '>Support</div>' in agent and 'data-tip="A member of the support team"' in agent
    assert 'Support' not in customer
