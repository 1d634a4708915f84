"""The app's main file: builds the app and runs it (also the main file of the UI tests)."""
from nicegui import ui

from pulse_live.app import build_app, run_kwargs

build_app()

if __name__ in {'__main__', '__mp_main__'}:
    ui.run(**run_kwargs())
