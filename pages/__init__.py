"""One module per route; importing this package registers them all."""
from . import admin_outbox, login, new_ticket, portal, profile, ticket, tickets  # noqa: F401
from . import admin_queues, dashboard, work  # noqa: F401  (work management: /queues, /my, /open, /dashboard, /admin/queues)
from . import admin_services, customers, organisations, portal_request  # noqa: F401  (portal request, directory)
from . import password  # noqa: F401  (forgot / reset password, public)
from . import admin_staff  # noqa: F401  (admins manage staff: /admin/staff)
from . import admin_error_sources  # noqa: F401  (admins: error reporting sources, /admin/error-sources)
from . import admin_mailboxes  # noqa: F401  (admins: e-mail in, /admin/mailboxes)
