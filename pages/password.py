"""Choosing a password without being logged in: ask for a link (/password/forgot), use it (/password/reset).

Both pages are public (``pulse_live.app.PUBLIC_PATHS``); all checks are in ``pulse_live/services/accounts.py``."""
from __future__ import annotations

from nicegui import ui

from components.actions import attempt
from pages.params import Token, desk_page
from pulse_live.errors import ValidationError
from pulse_live.services import accounts

SENT = ('If an account exists for that address, a mail with a link to choose a new password is on its way. '
        'The link works once.')


def _card(title: str, subtitle: str) -> ui.card:
    ui.page_title(f'{title} · Pulse Live')
    with ui.column().classes('absolute-center items-center gap-2'):
        ui.label('Pulse Live').classes('text-3xl font-bold text-slate-800')
        ui.label(subtitle).classes('text-slate-500')
        card = ui.card().classes('w-96 max-w-[92vw] gap-3 p-6')
    return card


@desk_page('/password/forgot')
async def forgot_page() -> None:
    request = ui.context.client.request
    address = request.client.host if request is not None and request.client else 'unknown'

    async def send() -> None:
        message.set_text('')
        sent = await attempt(accounts.request_password_reset(email.value or '', address=address),
                             handled=(ValidationError,))
        if not sent:  # told under the form, where the address was typed
            message.classes(replace='text-negative text-sm').set_text(str(sent.error))
            return
        form.set_visibility(False)
        message.classes(replace='text-slate-700 text-sm').set_text(SENT)

    with _card('Forgot your password?', 'Choose a new password'):
        with ui.column().classes('w-full gap-3') as form:
            ui.label('Enter the e-mail address of your account; we mail you a link.').classes('text-sm')
            email = ui.input('Email').props('type=email autocomplete=username autofocus').classes('w-full')
            email.on('keydown.enter', send)
            ui.button('Send link', on_click=send).classes('w-full').mark('send-link')
        message = ui.label('').classes('text-sm').mark('password-message')
        ui.link('Back to log in', '/login').classes('text-sm')


@desk_page('/password/reset')
async def reset_page(token: Token = '') -> None:
    user = await accounts.user_for_token(token[:1000])
    with _card('Choose a password', 'Choose a password'):
        if user is None:
            ui.label('This link is not valid any more: it was used already or is too old.') \
                .classes('text-negative').mark('link-invalid')
            ui.link('Ask for a new link', '/password/forgot')
            return
        ui.label(f'For {user.email}').classes('text-sm text-slate-500')
        first = ui.input('New password', password=True, password_toggle_button=True) \
            .props('autocomplete=new-password autofocus').classes('w-full')
        second = ui.input('Repeat the password', password=True).props('autocomplete=new-password').classes('w-full')
        ui.label(f'At least {accounts.MIN_NEW_PASSWORD} characters.').classes('text-xs text-slate-400')
        error = ui.label('').classes('text-negative text-sm').mark('password-error')

        async def save() -> None:
            error.set_text('')
            saved = await attempt(accounts.reset_password(token[:1000], first.value or '', second.value or ''),
                                  handled=(ValidationError,))
            if not saved:  # told under the form, beside the passwords
                error.set_text(str(saved.error))
                return
            ui.navigate.to('/login?notice=password-saved')

        second.on('keydown.enter', save)
        ui.button('Save password', on_click=save).classes('w-full').mark('save-password')
