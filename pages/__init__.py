"""One module per route; importing this package registers them all."""
from . import (  # noqa: F401  (imported for their routes)
    admin_error_sources,  # admins: error reporting sources, /admin/error-sources
    admin_escalation,  # admins: escalation rules and outgoing webhooks, /admin/escalation
    admin_mailboxes,  # admins: e-mail in, /admin/mailboxes
    admin_outbox,
    admin_queues,  # work management: /admin/queues
    admin_services,
    admin_sla,  # service levels: calendars and SLA policies, /admin/sla
    admin_staff,  # admins manage staff: /admin/staff
    customers,  # the directory
    dashboard,  # /dashboard
    help,  # the knowledge base for readers: /portal/help, the public /help
    kb,  # the knowledge base for staff: /kb
    login,
    new_ticket,
    organisations,
    password,  # forgot / reset password, public
    portal,
    portal_request,
    profile,
    search,  # /search: the results page of the header's search box
    ticket,
    tickets,
    work,  # work management: /tickets, /queues, /my, /open
)
