"""Automatic error reports: an ingest endpoint speaking the Sentry SDK's protocol (envelope and store)."""
from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    """Mount the ingest routes (called once by ``pulse_live.app.build_app``)."""
