"""Search over tickets, messages, articles, customers and organisations (SQLite FTS5 / PostgreSQL full text).

``text`` makes what a user typed safe (pure), ``engine`` asks the index as the viewer may, ``index`` keeps it in
the transaction of every write and rebuilds it, ``schema`` makes the engine's own index. Pages read through
``pulse_live/queries/search.py``.
"""
