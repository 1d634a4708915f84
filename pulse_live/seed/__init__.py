"""Data that is not typed in by people: the demo (``demo``, with ``customers`` and ``work``) and scale data
(``bulk``). The demo is created through the services like any user's work; see each module for what it writes
directly and why."""
