"""The service layer has no import cycles — counting imports inside functions, which hide a cycle from Python's
module loader but not from the next reader — and the rule engines stay pure (no database, no services)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / 'pulse_live'
CHECKED = ('services', 'notify', 'rules')  # notify: _uow imports the planner, so notify must not import services


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at module level or inside functions, as dotted absolute names (``from . import
    x`` counts as importing ``package.x``)."""
    module = _module_name(path)
    package = module if path.name == '__init__.py' else module.rsplit('.', 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                base_name = '.'.join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ''
            found.add(base_name)
            found.update(f'{base_name}.{alias.name}' for alias in node.names)  # ``from . import tickets``
    return found


def import_graph() -> dict[str, set[str]]:
    """Module → the checked modules it imports."""
    files = [p for sub in CHECKED for p in sorted((PACKAGE / sub).glob('*.py'))]
    names = {_module_name(p): p for p in files}
    return {name: {m for m in _imports(path) if m in names and m != name} for name, path in names.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that ends where it starts), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_through_any_number_of_modules():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': set()}) is None


def test_services_notify_and_rules_import_each_other_without_a_cycle():
    graph = import_graph()
    assert {'pulse_live.services.tickets', 'pulse_live.services.ticket_write', 'pulse_live.notify.planner',
            'pulse_live.rules.prioritisation'} <= set(graph)  # the walk sees the modules
    assert 'pulse_live.services.ticket_write' in graph['pulse_live.services.tickets']  # and their imports
    assert find_cycle(graph) is None, ' → '.join(find_cycle(graph) or [])


def test_notify_imports_no_service():
    graph = import_graph()
    assert 'pulse_live.notify.planner' in graph['pulse_live.services._uow']  # the one way in, inside a function
    for name, targets in graph.items():
        if name.startswith('pulse_live.notify'):
            assert not {t for t in targets if t.startswith('pulse_live.services')}, name


def test_the_rule_engines_are_pure():
    """Facts in, decision out: no database session, no service, no bus."""
    engines = sorted((PACKAGE / 'rules').glob('*.py'))
    assert {'prioritisation.py', 'routing.py'} <= {p.name for p in engines}
    for path in engines:
        imported = _imports(path)
        forbidden = {m for m in imported if m.startswith(('sqlalchemy', 'pulse_live.db', 'pulse_live.services',
                                                          'pulse_live.bus', 'pulse_live.notify'))}
        assert not forbidden, f'{path.name} imports {forbidden}'
