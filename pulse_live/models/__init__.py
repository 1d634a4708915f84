"""The data model, one module per concept; everything is re-exported here (``from pulse_live.models import X``)."""
from .api import *  # noqa: F401,F403
from .config_version import *  # noqa: F401,F403
from .core import *  # noqa: F401,F403
from .core import MAX_ROW_ID, Base, utcnow  # noqa: F401
from .customers import *  # noqa: F401,F403
from .error_reports import *  # noqa: F401,F403
from .escalation import *  # noqa: F401,F403
from .kb import *  # noqa: F401,F403
from .mail_intake import *  # noqa: F401,F403
from .saved_views import *  # noqa: F401,F403
from .search import *  # noqa: F401,F403
from .sla import *  # noqa: F401,F403
from .work import *  # noqa: F401,F403
