"""Pulse Live: a self-hosted, real-time collaborative help desk."""

__version__ = '0.1.0'
