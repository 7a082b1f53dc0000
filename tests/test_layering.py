"""The package's layers: data flows one way, no module reaches into another package's private modules,
and imports form no cycle, those made inside functions included (a lazy import hides a cycle from Python, not
from the design). Read from the source (ast), so the test needs nothing installed."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aekit"
# a module may import modules of its own layer or of layers below it
LAYERS = [
    {"registry", "validation", "fileio", "seeding", "threads", "layers", "losses", "corruption", "data", "metrics", "embedding", "codec",
     "nab", "version", "operations"},
    {"models", "diagnostics", "summary", "objectives", "ordered"},
    {"persistence", "training"},
    {"estimators"},
    {"artifacts", "report", "run", "cli", "serve", "zoo", "aekit"},
]
LAYER = {area: i for i, areas in enumerate(LAYERS) for area in areas}


def modules():
    for f in sorted(PACKAGE.rglob("*.py")):
        parts = f.relative_to(PACKAGE.parent).with_suffix("").parts
        yield ".".join(p for p in parts if p != "__init__"), f


def imports(f: Path, *, top_level_only: bool = False):
    tree = ast.parse(f.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    for n in nodes:
        if isinstance(n, ast.ImportFrom) and n.module and n.module.split(".")[0] == "aekit" and n.level == 0:
            yield n.module, [a.name for a in n.names]
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name.split(".")[0] == "aekit":
                    yield a.name, []


def area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "aekit"


@pytest.mark.parametrize("module, path", list(modules()), ids=[m for m, _ in modules()])
def test_imports_follow_the_layers(module, path):
    here = area(module)
    assert here in LAYER, f"{module}: add its area {here!r} to LAYERS in this test"
    for target, _ in imports(path):
        there = area(target)
        assert there in LAYER, f"{module} imports {target}: unknown area {there!r}"
        assert LAYER[there] <= LAYER[here], (f"{module} (layer {LAYER[here]}: {here}) imports {target} "
                                              f"(layer {LAYER[there]}: {there}): data must flow one way")


@pytest.mark.parametrize("module, path", list(modules()), ids=[m for m, _ in modules()])
def test_no_reaching_into_another_packages_private_modules(module, path):
    for target, names in imports(path):
        parts = target.split(".")
        private = [p for p in parts[1:] if p.startswith("_")]
        owner = ".".join(parts[:parts.index(private[0])]) if private else None
        if private and not (module == owner or module.startswith(owner + ".")):
            pytest.fail(f"{module} imports the private module {target}; make what it needs public")
        hidden = [n for n in names if n.startswith("_") and n != "__version__"]
        assert not (hidden and not private), f"{module} imports private names {hidden} from {target}"


MODULES = {m: p for m, p in modules()}

# cycles allowed on purpose, {frozenset of modules: reason}; empty: every import graph of aekit is acyclic
ALLOWED_CYCLES: dict[frozenset, str] = {}


def package_exports(package: str) -> dict[str, str]:
    """The names a package's ``__init__`` takes from its modules, {name: module} (what
    ``from package import name`` really depends on)."""
    path = MODULES.get(package)
    if path is None or path.name != "__init__.py":
        return {}
    out = {}
    for target, names in imports(path, top_level_only=True):
        for name in names:
            out[name] = f"{target}.{name}" if f"{target}.{name}" in MODULES else target
    return out


def depends_on(target: str, names: list[str]) -> set[str]:
    """The aekit modules an import of ``names`` from ``target`` runs: a sub-module where a name is one, the
    module a package re-exports a name from, else ``target`` itself (or its package)."""
    out = set()
    for name in names or [None]:
        seen = set()
        module, name_ = target, name
        while True:   # follow re-exports through packages down to the defining module
            if name_ is not None and f"{module}.{name_}" in MODULES:
                module = f"{module}.{name_}"
                break
            source = package_exports(module).get(name_) if name_ is not None else None
            if source is None or source in seen or source == module:
                break
            seen.add(source)
            module = source
        while module not in MODULES and "." in module:
            module = module.rsplit(".", 1)[0]
        if module in MODULES:
            out.add(module)
    return out


def with_packages(module: str, importer: str) -> set[str]:
    """``module`` and the packages above it whose ``__init__`` an import of it from ``importer`` runs (those
    ``importer`` is not inside of: its own package is already being imported)."""
    parts = module.split(".")
    above = {".".join(parts[:i]) for i in range(2, len(parts))}
    return {module} | {p for p in above if p in MODULES and not importer.startswith(p + ".")}


def import_graph() -> dict[str, set[str]]:
    """Module -> the aekit modules it imports, at the top or inside functions (with the package
    ``__init__`` files those imports run)."""
    graph = {}
    for m, p in MODULES.items():
        targets = set().union(*[depends_on(t, names) for t, names in imports(p)])
        graph[m] = set().union(*[with_packages(t, m) for t in targets]) - {m}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            part = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                part.append(w)
                if w == v:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def cycle_path(graph: dict[str, set[str]], part: list[str]) -> list[str]:
    """One import cycle through the first module of ``part``: a readable path for the failure message."""
    start, members = part[0], set(part)
    paths = {start: [start]}
    todo = [start]
    while todo:
        v = todo.pop(0)
        for w in sorted(graph[v] & members):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                todo.append(w)
    return part


def test_imports_have_no_cycle_even_inside_functions():
    graph = import_graph()
    bad = [cycle_path(graph, part) for part in cycles(graph) if frozenset(part) not in ALLOWED_CYCLES]
    assert not bad, "import cycles (imports inside functions count):\n" + "\n".join(" -> ".join(c) for c in bad)


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    """The check itself: a cycle closed by an import inside a function is found."""
    graph = {"aekit.a": {"aekit.b"}, "aekit.b": {"aekit.c"}, "aekit.c": {"aekit.a"}, "aekit.d": {"aekit.a"}}
    assert cycles(graph) == [["aekit.a", "aekit.b", "aekit.c"]]
    f = tmp_path / "m.py"
    f.write_text("import numpy\n\ndef later():\n    from aekit.data.kinds import get_kind\n")
    assert [t for t, _ in imports(f)] == ["aekit.data.kinds"] and not list(imports(f, top_level_only=True))


def test_from_package_imports_resolve_to_the_defining_module():
    assert depends_on("aekit.data", ["Scaler"]) == {"aekit.data.scalers"}
    assert depends_on("aekit.data", ["download"]) == {"aekit.data.download"}
    assert depends_on("aekit.data.kinds", ["get_kind"]) == {"aekit.data.kinds"}
