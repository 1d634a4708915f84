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
    login,
    new_ticket,
    organisations,
    password,  # forgot / reset password, public
    portal,
    portal_request,
    profile,
    ticket,
    tickets,
    work,  # work management: /tickets, /queues, /my, /open
)
