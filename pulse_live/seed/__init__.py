"""Data that is not typed in by people: the demo (``demo``, with ``customers`` and ``work``) and scale data
(``bulk``). The demo is created through the services like any user's work; its one bypass, back-dating timestamps,
is listed in ``demo.py``'s docstring. ``bulk`` writes rows directly (Core bulk inserts) for scale runs."""
