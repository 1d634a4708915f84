"""Admins manage the staff: invite agents, managers and admins by e-mail (a password link is mailed), change roles,
deactivate and reactivate people, and set the queues they work. Every action goes through ``services/staff.py``
(permission checks, validation, audit); others are refused and the attempt logged (``require_user``)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from nicegui import ui

from components.actions import attempt
from components.badges import avatar
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.models import Role, User
from pulse_live.queries.staff import StaffDirectory, StaffRow, staff_directory
from pulse_live.services import staff

ROLE_OPTIONS = dict(staff.ROLE_LABELS)


def _dialog(container: ui.element) -> ui.dialog:
    """A dialog in ``container`` (not in a list row a reload replaces), removed from the page once closed, so no
    closed dialogs pile up in a page that stays open all day."""
    with container:
        dialog = ui.dialog()

    def closed(e) -> None:
        if not e.value and not dialog.is_deleted:
            dialog.delete()
    dialog.on_value_change(closed)
    return dialog


class StaffPage:
    def __init__(self, user: User) -> None:
        self.user = user
        self.directory: StaffDirectory | None = None

    async def build(self) -> None:
        with ui.row().classes('w-full items-center gap-3'):
            ui.label('Staff').classes('text-2xl font-semibold')
            ui.label('Agents, managers and admins of the desk: invite people, set roles and queues.') \
                .classes('text-sm text-slate-500')
            ui.space()
            ui.button('Invite…', icon='person_add', on_click=self._invite_dialog).props('unelevated no-caps') \
                .mark('staff-invite')
        self.list = ui.card().classes('w-full gap-0 p-0').props('flat bordered').mark('staff-list')
        self.dialogs = ui.element('div')
        await self.reload()

    async def reload(self) -> None:
        directory = await staff_directory(self.user)
        if directory is None or self.list.is_deleted:
            return
        self.directory = directory
        self.list.clear()
        with self.list:
            for row in directory.rows:
                self._row(row, directory)

    async def _call(self, action: Callable[[], Awaitable], done: str = '') -> bool:
        done_ = await attempt(action(), success=done)
        await self.reload()  # after a refusal too: show what is true again (e.g. a role select that was refused)
        return bool(done_)

    # --- one person ---
    def _row(self, row: StaffRow, directory: StaffDirectory) -> None:
        me = row.id == self.user.id
        with ui.row().classes('w-full items-center gap-3 px-4 py-2 border-b border-slate-200 no-wrap'
                              + ('' if row.is_active else ' bg-slate-50')).mark(f'staff-row staff-{row.id}'):
            avatar(row.name, color='indigo' if row.is_active else 'grey')
            with ui.column().classes('gap-0 w-72 shrink-0 min-w-0'):
                with ui.row().classes('items-center gap-2'):
                    ui.label(row.name).classes('font-medium' + ('' if row.is_active else ' text-slate-400'))
                    if me:
                        ui.badge('you', color='primary').props('outline').classes('text-xs')
                    if not row.is_active:
                        ui.badge('deactivated', color='red').props('outline').classes('text-xs') \
                            .mark(f'staff-inactive-{row.id}')
                    elif row.invited:
                        ui.badge('never signed in', color='amber-8').props('outline').classes('text-xs') \
                            .tooltip('An invitation not taken up yet (or an account that was never used)') \
                            .mark(f'staff-invited-{row.id}')
                ui.label(' · '.join(p for p in (row.email, f'@{row.handle}' if row.handle else '') if p)) \
                    .classes('text-xs text-slate-500 truncate')
            ui.select(ROLE_OPTIONS, value=row.role, label='Role',
                      on_change=lambda e, row=row: self._role(row, e.value)) \
                .props('dense outlined options-dense').classes('w-32 shrink-0').mark(f'staff-role-{row.id}') \
                .set_enabled(row.is_active)
            with ui.row().classes('grow items-center gap-1 min-w-0').mark(f'staff-queues-{row.id}'):
                if not row.queue_ids:
                    ui.label('no queue').classes('text-xs text-slate-400')
                for queue_id in row.queue_ids:
                    ui.badge(directory.queues.get(queue_id, f'#{queue_id}'), color='blue-1', text_color='blue-10') \
                        .classes('text-xs font-normal')
                ui.button(icon='edit', on_click=lambda row=row: self._queues_dialog(row)) \
                    .props('flat dense round size=sm').tooltip('Queues this person works') \
                    .mark(f'staff-queues-edit-{row.id}')
            ui.label(f'{row.open_tickets} open' if row.open_tickets else '').classes('text-xs text-slate-500 w-14') \
                .tooltip('Open tickets assigned to them')
            with ui.row().classes('items-center gap-1 shrink-0 w-72 justify-end no-wrap'):
                if row.is_active and row.invited:
                    ui.button('Send password link', icon='forward_to_inbox', on_click=lambda row=row: self._call(
                        lambda: self._resend(row))).props('flat dense no-caps size=sm') \
                        .tooltip('Mail them the link to choose a password again').mark(f'staff-resend-{row.id}')
                if row.is_active and not me:
                    ui.button('Deactivate', on_click=lambda row=row: self._deactivate_dialog(row)) \
                        .props('flat dense no-caps color=negative').mark(f'staff-deactivate-{row.id}')
                elif not row.is_active:
                    ui.button('Reactivate', on_click=lambda row=row: self._call(
                        lambda: staff.set_active(actor=self.user, user_id=row.id, active=True),
                        f'{row.name} can sign in again.')).props('flat dense no-caps') \
                        .mark(f'staff-reactivate-{row.id}')

    async def _resend(self, row: StaffRow) -> None:
        if await staff.resend_invitation(actor=self.user, user_id=row.id):
            ui.notify(f'Password link mailed to {row.email}.', type='positive')
        else:
            ui.notify(f'A link was mailed to {row.email} a few minutes ago; try again later.', type='warning')

    async def _role(self, row: StaffRow, role: str) -> None:
        if role == row.role:
            return
        if await self._call(lambda: staff.change_role(actor=self.user, user_id=row.id, role=role),
                            f'{row.name} is {ROLE_OPTIONS[role].lower()} now.') and row.id == self.user.id \
                and role != Role.ADMIN:
            ui.navigate.to('/tickets')  # no admin any more: this page is not theirs

    async def _deactivate_dialog(self, row: StaffRow) -> None:
        with _dialog(self.dialogs) as dialog, ui.card().classes('w-[28rem] max-w-full'):
            ui.label(f'Deactivate {row.name}?').classes('text-lg font-medium')
            ui.label('They cannot sign in any more and their open pages end at once. Nothing they did is removed; '
                     'you can reactivate them later.').classes('text-sm text-slate-600')
            if row.open_tickets:
                ui.label(f'{row.open_tickets} open ticket{"s" if row.open_tickets != 1 else ""} '
                         f'{"are" if row.open_tickets != 1 else "is"} assigned to them: re-assign '
                         f'{"them" if row.open_tickets != 1 else "it"} (My tickets, All open).') \
                    .classes('text-sm text-amber-800').mark('deactivate-open-tickets')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def go() -> None:
                    if await self._call(lambda: staff.set_active(actor=self.user, user_id=row.id, active=False),
                                        f'{row.name} is deactivated.'):
                        dialog.close()
                ui.button('Deactivate', on_click=go).props('no-caps color=negative').mark('deactivate-confirm')
        dialog.open()

    async def _queues_dialog(self, row: StaffRow) -> None:
        queues = self.directory.queues if self.directory else {}
        with _dialog(self.dialogs) as dialog, ui.card().classes('w-[24rem] max-w-full gap-1'):
            ui.label(f'Queues of {row.name}').classes('text-lg font-medium')
            ui.label('Members see a queue\'s line first and may take its tickets.').classes('text-sm text-slate-500')
            boxes = {queue_id: ui.checkbox(name, value=queue_id in row.queue_ids).mark(f'staff-queue-{queue_id}')
                     for queue_id, name in queues.items()}
            if not queues:
                ui.label('There are no queues yet (Queues & rules).').classes('text-sm text-slate-400')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def save() -> None:
                    chosen = [queue_id for queue_id, box in boxes.items() if box.value]
                    if await self._call(lambda: staff.set_queues(actor=self.user, user_id=row.id, queue_ids=chosen),
                                        f'Queues of {row.name} saved.'):
                        dialog.close()
                ui.button('Save', on_click=save).props('no-caps unelevated').mark('staff-queues-save')
        dialog.open()

    async def _invite_dialog(self) -> None:
        queues = self.directory.queues if self.directory else {}
        with _dialog(self.dialogs) as dialog, ui.card().classes('w-[30rem] max-w-full gap-2'):
            ui.label('Invite a member of staff').classes('text-lg font-medium')
            ui.label('They get an e-mail with a link to choose their password (valid once).') \
                .classes('text-sm text-slate-500')
            name = ui.input('Name').props('outlined dense').classes('w-full').mark('invite-name')
            email = ui.input('E-mail').props('outlined dense type=email').classes('w-full').mark('invite-email')
            with ui.row().classes('w-full gap-2 no-wrap'):
                role = ui.select(ROLE_OPTIONS, value=Role.AGENT.value, label='Role').props('outlined dense') \
                    .classes('w-40').mark('invite-role')
                handle = ui.input('Handle for @mentions (optional)').props('outlined dense').classes('grow') \
                    .mark('invite-handle')
            chosen = ui.select(queues, multiple=True, value=[], label='Queues').props('outlined dense use-chips') \
                .classes('w-full').mark('invite-queues')
            with ui.row().classes('w-full justify-end'):
                ui.button('Cancel', on_click=dialog.close).props('flat no-caps')

                async def send() -> None:
                    invited = await attempt(staff.invite(actor=self.user, email=email.value,
                                                         display_name=name.value, role=role.value,
                                                         handle=handle.value or None, queue_ids=chosen.value or []))
                    if not invited:
                        return
                    person, mailed = invited.value
                    ui.notify(f'{person.display_name} invited; the password link is on its way to {person.email}.'
                              if mailed else f'{person.display_name} invited.', type='positive')
                    dialog.close()
                    await self.reload()
                ui.button('Send invitation', on_click=send).props('no-caps unelevated').mark('invite-send')
        dialog.open()


@desk_page('/admin/staff')
async def admin_staff_page() -> None:
    user = await require_user(Role.ADMIN)  # anybody else: refused, logged, sent home
    if user is None:
        return
    with frame('Staff', user):
        await StaffPage(user).build()
