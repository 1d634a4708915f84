"""Customer identification for agents: search as you type, the caller's card, and the customer / item dialogs.

``CallerSearch`` asks ``queries/customers.search_people`` (e-mail, phone in any format, id, name fragments);
the input is debounced in the browser and stale answers are dropped on the server, so fast typing never shows
results of an older query. ``caller_card`` shows what the desk knows: card, organisation and tier, configuration
items (hardware and software), recent tickets with status.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from urllib.parse import quote

from nicegui import ui

from pulse_live import auth, contact
from pulse_live.models import ItemKind, Status, User
from pulse_live.queries import customers as customer_queries
from pulse_live.queries.customers import CustomerProfile, ItemView
from pulse_live.services import customers as customer_services

from . import dialogs
from .actions import attempt
from .badges import STATUS_COLORS, avatar, initials
from .coalesce import TypedSearch
from .select import Select

MATCH_ICONS = {'id': 'tag', 'e-mail': 'alternate_email', 'phone': 'call', 'name': 'person'}
TIER_COLORS = {'platinum': 'blue-grey-7', 'gold': 'amber-8', 'silver': 'grey-6', 'standard': 'blue-grey-4',
               'provider': 'indigo'}


def tier_badge(tier: str) -> ui.badge:
    return ui.badge(tier.capitalize(), color=TIER_COLORS.get(tier.lower(), 'teal')).props('outline') \
        .classes('text-xs').mark('tier-badge')


class CallerSearch:
    """The search box and its live result list; ``on_pick(user_id)`` when the agent chooses someone,
    ``on_new(text)`` for "New customer" (prefilled from what was typed)."""

    def __init__(self, viewer: User, *, on_pick: Callable[[int], Awaitable[None]],
                 on_new: Callable[[str], Awaitable[None]] | None = None,
                 label: str = 'Who is calling? E-mail, phone, user id or name') -> None:
        self.viewer, self._on_pick, self._on_new = viewer, on_pick, on_new
        self._seq = 0
        self.input = ui.input(label, on_change=self._changed) \
            .props('outlined dense clearable debounce=250 autofocus').classes('w-full').mark('caller-search')
        with self.input.add_slot('prepend'):
            ui.icon('search')
        self.results = ui.column().classes('w-full gap-0').mark('caller-results')

    async def _changed(self) -> None:
        self._seq += 1
        seq, text = self._seq, (self.input.value or '').strip()
        hits = await customer_queries.search_people(self.viewer, text) if text else []
        if seq != self._seq or self.results.is_deleted:
            return  # the agent typed on meanwhile: a newer search answers
        self.results.clear()
        with self.results:
            if text and not hits and (len(text) >= 2 or text.isdigit()):
                with ui.row().classes('w-full items-center gap-2 px-2 py-2 text-sm text-slate-500'):
                    ui.label(f'Nobody found for “{text}”.').mark('caller-none')
            for hit in hits:
                with ui.item(on_click=lambda hit=hit: self._pick(hit.id)).classes('w-full rounded hover:bg-slate-50') \
                        .props('dense clickable').mark('caller-hit'):
                    with ui.item_section().props('avatar'):
                        avatar(hit.name, color='teal' if hit.role == 'customer' else 'indigo')
                    with ui.item_section():
                        with ui.row().classes('items-center gap-2'):
                            ui.label(hit.name).classes('font-medium')
                            if hit.role != 'customer':
                                ui.badge(hit.role, color='indigo').props('outline').classes('text-xs')
                        ui.label(' · '.join(p for p in (hit.email, hit.phone) if p)).classes('text-xs text-slate-500')
                    with ui.item_section().props('side'):
                        with ui.row().classes('items-center gap-1'):
                            ui.label(hit.organisation).classes('text-xs')
                            tier_badge(hit.tier)
                        with ui.row().classes('items-center gap-1 text-xs text-slate-400'):
                            ui.icon(MATCH_ICONS.get(hit.matched, 'search'), size='xs')
                            ui.label(f'#{hit.id} · {hit.matched}')
            if text and self._on_new is not None:
                ui.button('New customer…', icon='person_add', on_click=lambda: self._on_new(text)) \
                    .props('flat dense no-caps').classes('self-start mt-1').mark('caller-new')

    async def _pick(self, user_id: int) -> None:
        self.results.clear()
        await self._on_pick(user_id)

    def clear(self) -> None:
        self._seq += 1
        self.input.value = ''
        self.results.clear()


def _line(icon: str, text: str, marker: str) -> None:
    if not text:
        return
    with ui.row().classes('items-center gap-2 text-sm no-wrap'):
        ui.icon(icon, size='xs').classes('text-slate-400')
        ui.label(text).classes('break-all').mark(marker)


def item_icon(item: ItemView) -> str:
    if item.kind != ItemKind.HARDWARE:
        return 'apps'
    text = f'{item.name} {item.model}'.lower()
    for words, icon in ((('phone', 'iphone', 'android'), 'smartphone'), (('printer', 'laserjet', 'scanner'), 'print'),
                        (('monitor', 'display', 'screen'), 'monitor'), (('headset',), 'headset_mic')):
        if any(w in text for w in words):
            return icon
    return 'computer'


def item_block(item: ItemView, *, on_edit: Callable[[ItemView], Awaitable[None]] | None = None) -> None:
    """One configuration item: what it is, model, serial, OS / version, installed software."""
    with ui.row().classes('w-full no-wrap items-start gap-2 py-1' + ('' if item.is_active else ' opacity-50')) \
            .mark('config-item'):
        ui.icon(item_icon(item), size='sm').classes('text-slate-500 mt-0.5')
        with ui.column().classes('gap-0 grow min-w-0'):
            with ui.row().classes('items-center gap-2'):
                ui.label(item.name).classes('text-sm font-medium')
                if item.user_id is None:
                    ui.badge('shared', color='blue-grey').props('outline').classes('text-xs')
                if not item.is_active:
                    ui.badge('retired', color='grey').props('outline').classes('text-xs')
            details = [item.model, f'S/N {item.serial_number}' if item.serial_number else '', item.operating_system,
                       (f'v{item.version}' if item.version[:1].isdigit() else item.version) if item.version else '']
            text = ' · '.join(d for d in details if d)
            if text:
                ui.label(text).classes('text-xs text-slate-600 break-all')
            if item.installed_software:
                with ui.row().classes('gap-1 mt-0.5'):
                    for name in item.installed_software[:12]:
                        ui.badge(name, color='grey-3', text_color='grey-9').classes('text-xs font-normal')
                    if len(item.installed_software) > 12:
                        ui.label(f'+{len(item.installed_software) - 12} more').classes('text-xs text-slate-400')
            if item.notes:
                ui.label(item.notes).classes('text-xs text-slate-500 italic')
        if on_edit is not None:
            ui.button(icon='edit', on_click=lambda: on_edit(item)).props('flat dense round size=sm') \
                .tooltip('Edit item').mark('item-edit')


def history_list(profile: CustomerProfile) -> None:
    if not profile.tickets:
        ui.label('No tickets yet.').classes('text-sm text-slate-400')
        return
    for row in profile.tickets:
        with ui.row().classes('w-full items-center no-wrap gap-2 text-sm').mark('caller-ticket'):
            ui.link(row.reference, f'/tickets/{row.reference}', new_tab=True) \
                .classes('font-mono text-xs text-primary whitespace-nowrap')
            ui.label(row.title).classes('grow truncate min-w-0').tooltip(row.title)
            ui.badge(Status(row.status).label, color=STATUS_COLORS.get(row.status, 'grey')) \
                .classes('text-xs whitespace-nowrap')
            ui.label(f'{row.updated_at:%Y-%m-%d}').classes('text-xs text-slate-400 whitespace-nowrap')


# --- the card and the recent tickets as static HTML (the ticket page's customer panel) -------------------------------
# The markup their elements rendered to (same tags, classes and styles: the panel looks the same), as one ui.html
# each: the panel was ~75 NiceGUI elements per ticket page with the demo's customers, built, sent and held per viewer.
# Every text is escaped; tooltips are ``data-tip`` (the chatter's delegated listener, components/chatter_html.py).

CARD_CLASSES = 'nicegui-column w-full gap-3'
RECENT_ROW = 'nicegui-row row w-full items-center no-wrap gap-2 text-sm'


def _badge_html(text: str, color: str, *, outline: bool = True, classes: str = 'text-xs') -> str:
    look = f'q-badge--outline text-{color}' if outline else f'bg-{color}'
    return (f'<div class="q-badge flex inline items-center no-wrap q-badge--single-line {look} {classes}" '
            f'role="status">{escape(text)}</div>')


def _line_html(icon: str, text: str) -> str:
    if not text:
        return ''
    return (f'<div class="nicegui-row row items-center gap-2 text-sm no-wrap">'
            f'<i class="q-icon notranslate material-icons text-slate-400" aria-hidden="true" style="font-size: 18px;">'
            f'{escape(icon)}</i><div class="break-all">{escape(text)}</div></div>')


def caller_card_html(profile: CustomerProfile) -> str:
    """``caller_card(profile, show_items=False, show_tickets=False)`` without buttons, as markup (the inside of a
    ``CARD_CLASSES`` column)."""
    p = profile
    badges = (_badge_html('org admin', 'purple') if p.is_org_admin else '') + \
        (_badge_html('inactive', 'red') if not p.is_active else '')
    return (
        '<div class="nicegui-row row w-full items-center no-wrap gap-3">'
        f'<div class="q-avatar bg-teal" style="font-size: 38px; color: white;" data-tip="{escape(p.name)}">'
        '<div class="q-avatar__content row flex-center overflow-hidden" style="font-size: 12px;">'
        f'<i class="q-icon notranslate material-icons" aria-hidden="true">{escape(initials(p.name))}</i></div></div>'
        '<div class="nicegui-column gap-0 grow min-w-0">'
        '<div class="nicegui-row row items-center gap-2">'
        f'<a href="/customers/{int(p.id)}" target="_self" class="nicegui-link text-lg font-semibold text-slate-900" '
        f'data-caller-name>{escape(p.name)}</a>'
        f'<div class="text-xs text-slate-400">#{int(p.id)}</div>{badges}</div>'
        '<div class="nicegui-row row items-center gap-2">'
        f'<div class="text-sm" data-caller-organisation>{escape(p.organisation)}</div>'
        f'{_badge_html(p.tier.capitalize(), TIER_COLORS.get(p.tier.lower(), "teal"))}</div></div></div>'
        '<div class="w-full grid grid-cols-1 sm:grid-cols-2 gap-x-4 gap-y-1">'
        f'{_line_html("mail", p.email)}{_line_html("call", p.phone)}{_line_html("place", p.location)}'
        f'{_line_html("apartment", p.department)}</div>')


def history_html(profile: CustomerProfile) -> str:
    """``history_list(profile)`` as markup: one row per recent ticket (its reference opens it in a new tab)."""
    if not profile.tickets:
        return '<div class="text-sm text-slate-400">No tickets yet.</div>'
    rows = []
    for row in profile.tickets:
        badge = _badge_html(Status(row.status).label, STATUS_COLORS.get(row.status, 'grey'), outline=False,
                            classes='text-xs whitespace-nowrap')
        rows.append(
            f'<div class="{RECENT_ROW}" data-caller-ticket>'
            f'<a href="/tickets/{quote(row.reference, safe="")}" target="_blank" '
            'class="nicegui-link font-mono text-xs text-primary whitespace-nowrap">'
            f'{escape(row.reference)}</a>'
            f'<div class="grow truncate min-w-0" data-tip="{escape(row.title)}">{escape(row.title)}</div>'
            f'{badge}'
            f'<div class="text-xs text-slate-400 whitespace-nowrap">{row.updated_at:%Y-%m-%d}</div></div>')
    return ''.join(rows)


def caller_card(profile: CustomerProfile, *, on_change: Callable[[], Awaitable[None]] | None = None,
                on_edit: Callable[[], Awaitable[None]] | None = None, show_items: bool = True,
                show_tickets: bool = True) -> None:
    """Everything about the caller at a glance (the profile page shows items and tickets in their own cards)."""
    with ui.column().classes('w-full gap-3').mark('caller-card'):
        with ui.row().classes('w-full items-center no-wrap gap-3'):
            avatar(profile.name, color='teal', size='lg')
            with ui.column().classes('gap-0 grow min-w-0'):
                with ui.row().classes('items-center gap-2'):
                    ui.link(profile.name, f'/customers/{profile.id}').classes('text-lg font-semibold text-slate-900') \
                        .mark('caller-name')
                    ui.label(f'#{profile.id}').classes('text-xs text-slate-400')
                    if profile.is_org_admin:
                        ui.badge('org admin', color='purple').props('outline').classes('text-xs')
                    if not profile.is_active:
                        ui.badge('inactive', color='red').props('outline').classes('text-xs')
                with ui.row().classes('items-center gap-2'):
                    ui.label(profile.organisation).classes('text-sm').mark('caller-organisation')
                    tier_badge(profile.tier)
            if on_edit is not None:
                ui.button(icon='edit', on_click=on_edit).props('flat dense round').tooltip('Edit customer') \
                    .mark('caller-edit')
            if on_change is not None:
                ui.button('Change', icon='swap_horiz', on_click=on_change).props('flat dense no-caps') \
                    .mark('caller-change')
        with ui.element('div').classes('w-full grid grid-cols-1 sm:grid-cols-2 gap-x-4 gap-y-1'):
            _line('mail', profile.email, 'caller-email')
            _line('call', profile.phone, 'caller-phone')
            _line('place', profile.location, 'caller-location')
            _line('apartment', profile.department, 'caller-department')
        if show_items:
            items_list(profile)
        if show_tickets:
            with ui.column().classes('w-full gap-1'):
                ui.label(f'Recent tickets · {profile.open_count} open of {profile.total_count}') \
                    .classes('text-xs uppercase text-slate-500 mt-1')
                history_list(profile)


def items_list(profile: CustomerProfile) -> None:
    with ui.column().classes('w-full gap-0'):
        ui.label(f'Configuration items ({len(profile.items)})').classes('text-xs uppercase text-slate-500 mt-1')
        if not profile.items:
            ui.label('None recorded.').classes('text-sm text-slate-400')
        for item in profile.items:
            item_block(item)


async def customer_dialog(viewer: User, *, profile: CustomerProfile | None = None, prefill: str = '',
                          on_saved: Callable[[int], Awaitable[None]] | None = None) -> None:
    """Create (``profile`` None; ``prefill`` from the search: e-mail, phone or name) or edit a customer."""
    if (dialog := dialogs.single('customer')) is None:
        return  # one is open already (a repeated click, or a script's flood)
    organisations = await customer_queries.organisation_choices(customers_only=True)
    email = phone = name = ''
    if profile is None and prefill:
        if '@' in prefill:
            email = prefill
        elif contact.looks_like_phone(prefill):
            phone = prefill
        elif not prefill.lstrip('#').isdigit():
            name = prefill.title() if prefill.islower() else prefill
    with dialog, ui.card().classes('w-[34rem] max-w-full gap-2'):
        ui.label('New customer' if profile is None else f'Edit {profile.name}').classes('text-lg font-medium')
        p = profile
        name_in = ui.input('Name', value=p.name if p else name).props('outlined dense').classes('w-full') \
            .mark('customer-name')
        email_in = ui.input('E-mail', value=p.email if p else email).props('outlined dense type=email') \
            .classes('w-full').mark('customer-email')
        phone_in = ui.input('Phone', value=p.phone if p else phone).props('outlined dense type=tel') \
            .classes('w-full').mark('customer-phone')
        org_in = ui.select(organisations, label='Organisation', with_input=True,
                           value=p.organisation_id if p else None).props('outlined dense').classes('w-full') \
            .mark('customer-organisation')
        with ui.row().classes('w-full gap-2 no-wrap'):
            location_in = ui.input('Location', value=p.location if p else '').props('outlined dense') \
                .classes('grow').mark('customer-location')
            department_in = ui.input('Department', value=p.department if p else '').props('outlined dense') \
                .classes('grow').mark('customer-department')
        admin_in = None
        if auth.can_grant_org_admin(viewer):
            admin_in = ui.checkbox('Organisation admin (sees all requests of the organisation in the portal)',
                                   value=bool(p and p.is_org_admin)).mark('customer-org-admin')
        active_in = ui.checkbox('Active', value=p.is_active).mark('customer-active') if p else None
        password_in = ui.input('Portal password (optional; empty: no portal login yet)' if p is None else
                               'New portal password (empty: unchanged)', password=True,
                               password_toggle_button=True).props('outlined dense').classes('w-full') \
            .mark('customer-password')
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                saved = await attempt(customer_services.save_customer(
                    actor=viewer, user_id=p.id if p else None, email=email_in.value, display_name=name_in.value,
                    organisation_id=org_in.value, phone=phone_in.value, location=location_in.value,
                    department=department_in.value,
                    is_org_admin=admin_in.value if admin_in is not None else bool(p and p.is_org_admin),
                    is_active=active_in.value if active_in is not None else True,
                    password=password_in.value or None))
                if not saved:
                    return
                user = saved.value
                ui.notify(f'{user.display_name} saved', type='positive')
                dialog.close()
                if on_saved is not None:
                    await on_saved(user.id)
            ui.button('Save customer', on_click=save).props('no-caps unelevated').mark('customer-save')
    dialog.open()


async def item_dialog(viewer: User, *, organisation_id: int, user_id: int | None, item: ItemView | None = None,
                      on_saved: Callable[[], Awaitable[None]] | None = None) -> None:
    """Record or edit a configuration item (hardware: model, serial, OS; software: version; installed software)."""
    if (dialog := dialogs.single('customer-item')) is None:
        return  # one is open already (a repeated click, or a script's flood)
    i = item
    owner_id = i.user_id if i else user_id
    # searched as typed: the whole organisation in one list was 10,002 choices and 0.5 s of CPU per opening
    people = await customer_queries.organisation_people(viewer, organisation_id, keep=owner_id,
                                                        limit=customer_queries.PEOPLE_SHOWN)
    with dialog, ui.card().classes('w-[34rem] max-w-full gap-2'):
        ui.label('New configuration item' if i is None else f'Edit {i.name}').classes('text-lg font-medium')
        kind = ui.toggle({k.value: k.label for k in ItemKind}, value=i.kind if i else ItemKind.HARDWARE.value) \
            .props('no-caps dense unelevated toggle-color=primary').mark('item-kind')
        name = ui.input('Name', value=i.name if i else '', placeholder='e.g. Laptop CPH-0231 or ERP client') \
            .props('outlined dense').classes('w-full').mark('item-name')
        with ui.row().classes('w-full gap-2 no-wrap'):
            model = ui.input('Model / product', value=i.model if i else '').props('outlined dense').classes('grow') \
                .mark('item-model')
            serial = ui.input('Serial number', value=i.serial_number if i else '').props('outlined dense') \
                .classes('grow').mark('item-serial')
        with ui.row().classes('w-full gap-2 no-wrap'):
            os_in = ui.input('Operating system', value=i.operating_system if i else '').props('outlined dense') \
                .classes('grow').mark('item-os')
            version = ui.input('Version', value=i.version if i else '').props('outlined dense').classes('w-32') \
                .mark('item-version')
        software = ui.textarea('Installed software (one per line)',
                               value='\n'.join(i.installed_software) if i else '').props('outlined autogrow') \
            .classes('w-full').mark('item-software')
        owner = Select(people, label='Used by', value=owner_id, clearable=True, with_input=True) \
            .props('outlined dense').classes('w-full').mark('item-user')

        async def search_people(text: str) -> None:
            found = await customer_queries.organisation_people(viewer, organisation_id, search=text, keep=owner.value,
                                                               limit=customer_queries.PEOPLE_SHOWN)
            if not owner.is_deleted:
                owner.set_options(found, value=owner.value)
        owner.on('input-value', TypedSearch(search_people), throttle=0.25)
        notes = ui.input('Notes', value=i.notes if i else '').props('outlined dense').classes('w-full') \
            .mark('item-notes')
        active = ui.checkbox('In use', value=i.is_active).mark('item-active') if i else None
        with ui.row().classes('w-full justify-end'):
            ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

            async def save() -> None:
                if not await attempt(customer_services.save_configuration_item(
                        actor=viewer, item_id=i.id if i else None, organisation_id=organisation_id,
                        user_id=owner.value, kind=kind.value, name=name.value, model=model.value,
                        serial_number=serial.value, operating_system=os_in.value, version=version.value,
                        installed_software=software.value, notes=notes.value,
                        is_active=active.value if active is not None else True), success='Item saved'):
                    return
                dialog.close()
                if on_saved is not None:
                    await on_saved()
            ui.button('Save item', on_click=save).props('no-caps unelevated').mark('item-save')
    dialog.open()
