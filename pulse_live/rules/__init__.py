"""The rule engines as pure functions: a ticket's facts and the rules (data) in, a decision out.

Nothing here reads or writes the database: the ticket services read the facts and the active rules, ask the engine,
and write its decision inside their own transaction (``services/routing.py``, ``services/prioritisation.py``).
The rules themselves are administered by ``services/rule_admin.py``."""
