"""E-mail in: IMAP mailboxes (IDLE, poll as fallback) feeding queues."""
from __future__ import annotations


def start() -> None:
    """Start the mailbox watchers in this process (called at startup when the mail worker runs here)."""


async def stop() -> None:
    """Stop the mailbox watchers."""
