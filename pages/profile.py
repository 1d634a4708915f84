"""A user's own business card: edit it and choose to publish it (then others can @mention you)."""
from __future__ import annotations

import math

from nicegui import ui

from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pulse_live.models import Role
from pulse_live.services import notifications, users


@ui.page('/profile')
async def profile_page() -> None:
    user = await require_user()
    if user is None:
        return
    with frame('Profile', user):
        ui.label('Your business card').classes('text-2xl font-semibold')
        with ui.card().classes('w-full max-w-xl gap-3'):
            ui.label(user.email).classes('text-slate-500')
            name = ui.input('Name', value=user.display_name).props('outlined dense').classes('w-full')
            handle = ui.input('Handle (for @mentions)', value=user.handle or '').props('outlined dense prefix=@') \
                .classes('w-full')
            phone = ui.input('Phone', value=user.phone).props('outlined dense').classes('w-full')
            location = ui.input('Location', value=user.location).props('outlined dense').classes('w-full')
            department = ui.input('Department', value=user.department).props('outlined dense').classes('w-full')
            published = ui.switch('Publish my card (others can find and @mention me)', value=user.card_published)

            async def save() -> None:
                await attempt(users.update_card(actor=user, display_name=name.value, handle=handle.value,
                                                phone=phone.value, location=location.value,
                                                department=department.value, card_published=published.value),
                              success='Card saved')
            ui.button('Save', on_click=save).props('no-caps')

        ui.label('Notifications').classes('text-xl font-semibold mt-4')
        with ui.card().classes('w-full max-w-xl gap-3'):
            ui.label('While you have Pulse Live open you are notified in the app; otherwise by e-mail.') \
                .classes('text-slate-500 text-sm')
            email_on = ui.switch('E-mail me when I am not online', value=user.email_notifications) \
                .mark('pref-email')
            delay = ui.number('Mail me unread in-app notifications older than (minutes) while I am offline',
                              value=round(user.notify_delay_s / 60, 1), min=0, max=7 * 24 * 60, step=1) \
                .props('outlined dense').classes('w-full').mark('pref-delay')
            scope = None
            if user.role in (Role.MANAGER, Role.ADMIN):  # agents hear of their own tickets and their queue's new ones
                ui.label('What I hear about').classes('font-medium mt-2')
                ui.label('You always hear of tickets you are assigned to, on the team of, or mentioned in.') \
                    .classes('text-slate-500 text-sm')
                scope = ui.radio(notifications.SCOPES, value=user.notify_scope or 'mine').mark('pref-scope')

            async def save_preferences() -> None:
                try:
                    minutes = float(delay.value)
                except (TypeError, ValueError):
                    minutes = math.nan
                if not math.isfinite(minutes):
                    ui.notify('Enter the delay in minutes (0 to 10080).', type='negative')
                    return
                await attempt(notifications.update_preferences(
                    actor=user, email_notifications=bool(email_on.value), notify_delay_s=int(round(minutes * 60)),
                    notify_scope=scope.value if scope is not None else None), success='Preferences saved')
            ui.button('Save preferences', on_click=save_preferences).props('no-caps')
