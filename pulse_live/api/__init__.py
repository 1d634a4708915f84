"""The REST API ``/api/v1`` (issue 13): personal tokens, the same permission rules and services as the UI."""
from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the API's routes on the app (called once by ``pulse_live.app.build_app``)."""
