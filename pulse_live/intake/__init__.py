"""Tickets that come from outside our own forms: e-mail (IMAP) and error reports from applications (Sentry SDK)."""
