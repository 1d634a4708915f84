"""A user's own business card: edit it and choose to publish it (then others can @mention you)."""
from __future__ import annotations

import math

from nicegui import ui

from components import dialogs
from components.actions import attempt
from components.frame import frame
from components.session import require_user
from pages.params import desk_page
from pulse_live.models import Role, utcnow
from pulse_live.services import api_tokens, notifications, users


@desk_page('/profile')
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

        await api_tokens_section(user)


EXPIRY_CHOICES = {7: '7 days', 30: '30 days', 90: '90 days', 365: '1 year'}


def _when(value) -> str:
    return value.strftime('%Y-%m-%d %H:%M') + ' UTC' if value is not None else '—'


async def api_tokens_section(user) -> None:
    """Personal API tokens (``/api/docs``): create one (shown once), see them, revoke them."""
    ui.label('API tokens').classes('text-xl font-semibold mt-4')
    with ui.card().classes('w-full max-w-3xl gap-3').mark('api-tokens'):
        ui.label('A token lets a script or another application use Pulse Live as you, through the REST API '
                 '(documentation: /api/docs). It sees what you see. Keep it secret; revoke it when it is no longer '
                 'needed.').classes('text-slate-500 text-sm')
        with ui.row().classes('w-full items-end gap-3'):
            name = ui.input('Token name (what it is for)').props('outlined dense maxlength=100') \
                .classes('grow').mark('token-name')
            scope = ui.select({'read': 'Read only', 'write': 'Read and write'}, value='read', label='Scope') \
                .props('outlined dense').classes('w-44').mark('token-scope')
            expiry = ui.select(EXPIRY_CHOICES, value=90, label='Expires after').props('outlined dense') \
                .classes('w-36').mark('token-expiry')
            create = ui.button('Create token').props('no-caps').mark('token-create')
        shown = ui.column().classes('w-full')
        listing = ui.column().classes('w-full gap-1')

        async def refresh() -> None:
            tokens = await api_tokens.list_tokens(actor=user)
            listing.clear()
            with listing:
                if not tokens:
                    ui.label('You have no API tokens.').classes('text-slate-500 text-sm')
                    return
                now = utcnow()
                for token in tokens:
                    if token.revoked_at is not None:
                        state, color = f'revoked {_when(token.revoked_at)}', 'text-red-700'
                    elif token.expires_at is not None and token.expires_at <= now:
                        state, color = 'expired', 'text-amber-700'
                    else:
                        state, color = 'active', 'text-green-700'
                    with ui.row().classes('w-full items-center gap-3 border-b py-1 text-sm').mark('token-row'):
                        with ui.column().classes('grow gap-0'):
                            ui.label(token.name).classes('font-medium')
                            scope_label = 'Read and write' if token.scope == 'write' else 'Read only'
                            ui.label(f'plk_{token.prefix}_… · {scope_label}'
                                     f' · created {_when(token.created_at)} · expires {_when(token.expires_at)}'
                                     f' · last used {_when(token.last_used_at)}').classes('text-slate-500 text-xs')
                        ui.label(state).classes(f'{color} text-xs')
                        if state == 'active':
                            ui.button('Revoke', on_click=lambda t=token: revoke(t)) \
                                .props('no-caps flat dense color=negative').mark('token-revoke')

        async def revoke(token) -> None:
            if (dialog := dialogs.single('revoke-token')) is None:
                return  # one is open already (each click built one that stayed: +22 MB a 500 clicks)
            with dialog, ui.card():
                ui.label(f'Revoke the token "{token.name}"? Anything using it stops working at once.')
                with ui.row():
                    ui.button('Revoke', on_click=lambda: dialog.submit(True)).props('no-caps color=negative') \
                        .mark('token-revoke-confirm')
                    ui.button('Cancel', on_click=lambda: dialog.submit(False)).props('no-caps flat')
            if await dialog and await attempt(api_tokens.revoke_token(actor=user, token_id=token.id),
                                              success='Token revoked'):
                await refresh()

        async def create_token() -> None:
            done = await attempt(api_tokens.create_token(actor=user, name=name.value or '', scope=scope.value,
                                                         expires_in_days=int(expiry.value)))
            if not done or done.value is None:
                return
            name.value = ''
            shown.clear()
            with shown, ui.card().classes('w-full bg-green-50 gap-2').mark('token-shown'):
                ui.label('Your new token — copy it now: it is shown only this once.').classes('font-medium')
                secret = done.value.secret
                with ui.row().classes('w-full items-center gap-2'):
                    ui.input(value=secret).props('outlined dense readonly').classes('grow font-mono') \
                        .mark('token-secret')
                    def copy() -> None:
                        ui.clipboard.write(secret)
                        ui.notify('Copied', type='positive')
                    ui.button('Copy', on_click=copy).props('no-caps flat')
                ui.button('Done', on_click=shown.clear).props('no-caps flat')
            await refresh()

        create.on_click(create_token)
        await refresh()
