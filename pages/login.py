from __future__ import annotations

import logging

from nicegui import ui
from nicegui.events import GenericEventArguments

from components.guard import END_NOTICES
from components.session import current_user, home_for, sign_in
from pages.params import ShortText, desk_page
from pulse_live import auth
from pulse_live.errors import LoginRefused

log = logging.getLogger(__name__)
NOTICES = {**END_NOTICES, 'logged-out-here': 'You are logged out.',
           'login-expired': 'Logging in took too long or was interrupted. Please log in again.'}


@desk_page('/login')
async def login_page(notice: ShortText = '') -> None:
    user = await current_user()
    if user is not None:
        ui.navigate.to(home_for(user))
        return
    request = ui.context.client.request
    address = request.client.host if request is not None and request.client else 'unknown'
    ui.page_title('Log in · Pulse Live')

    async def try_login(e: GenericEventArguments) -> None:
        # the address and password as the browser had them when Log in was pressed (READ_FORM): a click sent before the
        # page's socket connected can reach the server before the values typed meanwhile (NiceGUI retries each event on
        # its own), and the login then said "not correct"; without them (older page, simulated user) the fields' values
        sent = e.args
        typed = sent if isinstance(sent, list) and len(sent) == 2 and all(isinstance(v, str) for v in sent) else None
        address_typed, password_typed = typed if typed is not None else (email.value, secret.value)
        button.props('loading')
        error.set_text('')
        try:
            signed_in = await auth.authenticate(address_typed, password_typed, address=address)
        except LoginRefused as e:
            error.set_text(str(e))
            secret.value = ''
            return
        except Exception:  # e.g. the database is unavailable: say so instead of doing nothing
            log.exception('login failed unexpectedly')
            error.set_text('Logging in failed on our side. Please try again in a moment.')
            return
        finally:
            button.props(remove='loading')
        ui.navigate.to(sign_in(signed_in))  # a new session id is issued there (no session fixation)

    with ui.column().classes('absolute-center items-center gap-2'):
        ui.label('Pulse Live').classes('text-3xl font-bold text-slate-800')
        ui.label('Help desk sign-in').classes('text-slate-500')
        with ui.card().classes('w-80 gap-3 p-6'):
            email = ui.input('Email').props('type=email autocomplete=username autofocus').classes('w-full')
            secret = ui.input('Password', password=True).props('autocomplete=current-password').classes('w-full')
            error = ui.label('').classes('text-negative text-sm').mark('login-error')
            if notice == 'password-saved':
                ui.label('Your password is saved: log in with it.').classes('text-positive text-sm') \
                    .mark('password-changed')
            elif notice in NOTICES:
                ui.label(NOTICES[notice]).classes('text-slate-700 text-sm').mark('login-notice')
            # Quasar gives the element's DOM id to the native input inside it (for its label)
            field = '(el => (el?.matches("input") ? el : el?.querySelector("input"))?.value ?? null)'
            read_form = (f'() => emit([{field}(document.getElementById("c{email.id}")), '
                         f'{field}(document.getElementById("c{secret.id}"))])')
            button = ui.button('Log in').classes('w-full')
            button.on('click', try_login, js_handler=read_form)
            secret.on('keydown.enter', try_login, js_handler=read_form)
            ui.link('Forgot your password?', '/password/forgot').classes('text-sm self-center').mark('forgot-link')
