"""What the search box, the results page, the portal's suggestions and the ticket page's "similar" panel show: the
index's matches (``pulse_live/search``) with the names a reader needs (reference, status, author), highlighted.
Every read is the viewer's (what they may find, see ``search/engine.py``)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, text

from .. import auth, db
from ..models import Status, Ticket, User
from ..search import engine
from ..search.text import Query, any_words, highlight, parse, snippet
from . import shared

GROUP_LABELS = {'ticket': 'Tickets', 'message': 'Messages', 'article': 'Articles', 'customer': 'Customers',
                'organisation': 'Organisations'}
CUSTOMER_GROUP_LABELS = {'ticket': 'My requests', 'message': 'Messages', 'article': 'Help articles'}
RESOLVED = (Status.RESOLVED.value, Status.CLOSED.value)


@dataclass
class Hit:
    kind: str
    id: int                  # the ticket, event, article, user or organisation id
    title_html: str          # highlighted, HTML-escaped
    snippet_html: str        # highlighted, HTML-escaped ('' when there is nothing to show)
    updated_at: datetime
    reference: str = ''      # tickets and messages: the ticket's reference
    status: str = ''         # tickets and messages: the ticket's status; articles: draft / published
    internal: bool = False   # an internal note, an internal article
    meta: str = ''           # a short line: who wrote a message, a customer's organisation, …
    resolution: str = ''     # similar tickets: how it was solved


@dataclass
class Group:
    kind: str
    label: str
    hits: list[Hit] = field(default_factory=list)
    more: bool = False


@dataclass
class Results:
    text: str
    groups: list[Group]

    @property
    def empty(self) -> bool:
        return not any(g.hits for g in self.groups)


_DETAILS = {  # per kind: the names a hit shows, as (kind, id, a, b, c, d, e) rows of one UNION ALL
    'ticket': "SELECT 'ticket' AS kind, t.id AS id, t.reference AS a, t.title AS b, t.status AS c, "
              "t.resolution_text AS d, rc.name AS e FROM tickets AS t "
              "LEFT JOIN resolution_codes AS rc ON rc.id = t.resolution_code_id WHERE t.id IN :ticket",
    'message': "SELECT 'message', e.id, CASE WHEN e.is_internal THEN 'internal' ELSE '' END, u.display_name, "
               "e.kind, NULL, NULL FROM ticket_events AS e LEFT JOIN users AS u ON u.id = e.actor_id "
               "WHERE e.id IN :message",
    'customer': "SELECT 'customer', u.id, o.name, NULL, NULL, NULL, NULL FROM users AS u "
                "JOIN organisations AS o ON o.id = u.organisation_id WHERE u.id IN :customer",
    'article': "SELECT 'article', a.id, a.status, a.visibility, NULL, NULL, NULL FROM kb_articles AS a "
               "WHERE a.id IN :article",
}


async def _details(found: list[engine.Found]) -> dict[tuple[str, int], dict[str, Any]]:
    """Names for the matched documents, read in one statement (a part per kind that has hits): a keystroke of the
    header box is two round trips, the matches and these."""
    ids: dict[str, set[int]] = {}
    for f in found:
        if f.ticket_id is not None:
            ids.setdefault('ticket', set()).add(f.ticket_id)
        if f.kind in ('message', 'customer', 'article'):
            ids.setdefault(f.kind, set()).add(f.object_id)
    if not ids:
        return {}
    kinds = [k for k in _DETAILS if ids.get(k)]
    statement = text(' UNION ALL '.join(_DETAILS[k] for k in kinds)).bindparams(
        *[bindparam(k, sorted(ids[k]), expanding=True) for k in kinds])
    async with db.session() as s:
        rows = (await s.execute(statement)).all()
    tickets: dict[int, Any] = {}
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for kind, id_, a, b, c, d, e in rows:
        if kind == 'ticket':
            tickets[id_] = (a, b, c, d, e)
        elif kind == 'message':
            out[('message', id_)] = {'internal': a == 'internal', 'author': b or 'System', 'call': c == 'call'}
        elif kind == 'customer':
            out[('customer', id_)] = {'organisation': a}
        else:
            out[('article', id_)] = {'status': a, 'internal': b != 'public'}
    for f in found:
        if f.ticket_id in tickets:
            reference, title, status, resolution_text, code = tickets[f.ticket_id]
            resolution = ' — '.join(x for x in (code, resolution_text) if x) if status in RESOLVED else ''
            out.setdefault((f.kind, f.object_id), {}).update(
                reference=reference, ticket_title=title, status=status, resolution=resolution)
    return out


# Linear in the text: a link's text stops at the next '[' (and both parts are bounded). The earlier `\[([^\]]*)\]`
# scanned to the end of the text from every '[' without a closing ']': an article made from a customer's 20,000
# '[' held the event loop for seconds on every search that found it.
MARKDOWN_SIGNS = re.compile(r'[*_`#>|~]+|!?\[([^\[\]\n]{0,500})\]\([^()\s]{0,2000}\)')


def _plain(markdown: str) -> str:
    """An article's markdown as the words a snippet shows (emphasis and heading signs out, links as their text)."""
    return MARKDOWN_SIGNS.sub(lambda m: m.group(1) or ' ', markdown)


def _hit(f: engine.Found, query: Query, details: dict[str, Any], *, staff: bool) -> Hit:
    text = f.body + (' ' + f.staff_text if staff and f.staff_text else '')
    if f.kind == 'article':
        text = _plain(text)
    reference = details.get('reference', '')
    if f.kind == 'message':
        title = details.get('ticket_title', '')
        title_html = highlight(f'{reference} · {title}', query)
        when = f'{f.updated_at:%Y-%m-%d %H:%M}'
        internal = bool(details.get('internal'))
        what = 'Call logged' if details.get('call') else 'Internal note' if internal else 'Message'
        meta = f'{what} by {details.get("author", "")} · {when}'
        return Hit(kind=f.kind, id=f.object_id, title_html=title_html, snippet_html=snippet(text, query),
                   updated_at=f.updated_at, reference=reference, status=details.get('status', ''),
                   internal=internal, meta=meta)
    meta = ''
    if f.kind == 'customer':
        meta = details.get('organisation', '')
    return Hit(kind=f.kind, id=f.object_id, title_html=highlight(f.title, query),
               snippet_html=snippet(text, query) if text.strip() else '', updated_at=f.updated_at,
               reference=reference, status=details.get('status', ''), internal=bool(details.get('internal')),
               meta=meta, resolution=details.get('resolution', ''))


async def _hits(viewer: User, found: list[engine.Found], query: Query,
                details: dict[tuple[str, int], dict[str, Any]] | None = None) -> list[Hit]:
    if details is None:
        details = await _details(found)
    staff = auth.can_see_internal(viewer)
    return [_hit(f, query, details.get((f.kind, f.object_id), {}), staff=staff) for f in found]


def labels_for(viewer: User) -> dict[str, str]:
    return GROUP_LABELS if auth.is_staff(viewer) else CUSTOMER_GROUP_LABELS


async def search(viewer: User, text: str, *, kinds: tuple[str, ...] | None = None, per_group: int = 5,
                 status: str | None = None, queue_id: int | None = None) -> Results:
    """The grouped results of the header box (``per_group`` 5) and of the results page (more, filtered)."""
    query = parse(text)
    found = await engine.search(viewer, query, kinds=kinds, limit=per_group,
                                filters=engine.Filters(status=status or None, queue_id=queue_id or None))
    labels = labels_for(viewer)
    details = await _details([f for docs, _more in found.values() for f in docs])  # every group's, at once
    groups = []
    for kind, (docs, more) in found.items():
        groups.append(Group(kind=kind, label=labels[kind], hits=await _hits(viewer, docs, query, details),
                            more=more))
    return Results(text=text, groups=groups)


async def similar_tickets(viewer: User, ticket_id: int, *, limit: int = 5) -> list[Hit]:
    """Tickets like this one (its title and description), resolved and closed ones first, with their resolution.
    Staff only (the ticket page's panel)."""
    if not auth.is_staff(viewer):
        return []
    async with db.session() as s:
        ticket = await s.get(Ticket, ticket_id)
    if ticket is None:
        return []
    return await _similar(viewer, ticket_id, f'{ticket.title} {ticket.description}', limit=limit)


async def _similar(viewer: User, ticket_id: int, text_: str, *, limit: int) -> list[Hit]:
    if not auth.is_staff(viewer):
        return []
    query = any_words(text_)
    found = await engine.related(viewer, query, 'ticket', limit=limit * 4, exclude=ticket_id)
    details = await _details(found)
    # resolved and closed first (stable: relevance kept within each part); only the kept ones are made hits (their
    # snippet and highlighting, the costly part, was made for four times as many and thrown away)
    found.sort(key=lambda f: details.get((f.kind, f.object_id), {}).get('status', '') not in RESOLVED)
    return await _hits(viewer, found[:limit], query, details)


async def related_articles(viewer: User, text: str, *, limit: int = 5) -> list[Hit]:
    """Articles about what ``text`` says (the ticket page's panel, the portal's suggestions as the customer types):
    for a customer only published public ones."""
    query = any_words(text)
    found = await engine.related(viewer, query, 'article', limit=limit)
    return await _hits(viewer, found, query)


RELATED_KEPT_S = 10.0  # similar tickets and articles may be this old: every page opened on a ticket showed them


async def related_to_ticket(viewer: User, ticket_id: int, *, limit: int = 5) -> tuple[list[Hit], list[Hit]]:
    """The ticket page's panel: tickets like this one (``similar_tickets``) and articles about it
    (``related_articles``), for a viewer who may see the ticket (nothing otherwise).

    Every agent opening the ticket in the next ``RELATED_KEPT_S`` seconds gets the same answer (an incident brings
    the desk onto one ticket; the two searches were a seventh of an open's server time): one read of the ticket's
    text per open, the searches once per text and kind of reader. A change of the title or description is another
    text, so it is searched again at once; a new or newly resolved similar ticket shows within those seconds."""
    async with db.quick() as s:
        ticket = await s.get(Ticket, ticket_id)
        if ticket is None or not await auth.may_view_ticket(s, viewer, ticket):
            return [], []
        text_ = f'{ticket.title} {ticket.description}'

    async def load() -> tuple[list[Hit], list[Hit]]:
        return (await _similar(viewer, ticket_id, text_, limit=limit),
                await related_articles(viewer, text_, limit=limit))
    # what a reader may find depends on staff or not and on reading internal text (search/engine.py) — not on who
    reader = (auth.is_staff(viewer), auth.can_see_internal(viewer))
    return await shared.recent(('related', ticket_id, text_, limit, reader), load, keep_s=RELATED_KEPT_S)
