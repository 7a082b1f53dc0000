"""The package's layers: data flows one way, no module reaches into another package's private modules,
and module-level imports form no cycle. Read from the source (ast), so the test needs nothing installed."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "aekit"
# a module may import modules of its own layer or of layers below it
LAYERS = [
    {"registry", "validation", "fileio", "seeding", "threads", "layers", "losses", "corruption", "data", "metrics", "embedding", "codec",
     "nab", "version", "operations"},
    {"models", "diagnostics", "summary", "objectives"},
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


def test_module_level_imports_have_no_cycle():
    graph = {m: {t for t, _ in imports(p, top_level_only=True)} for m, p in modules()}
    graph = {m: {t if t in graph else t.rsplit(".", 1)[0] for t in ts} & set(graph) for m, ts in graph.items()}
    state: dict[str, int] = {}

    def visit(m, path):
        state[m] = 1
        for t in graph[m]:
            if t == m or m.startswith(t + "."):   # a package's own __init__ importing its modules
                continue
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(path + [t]))
            if t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in graph:
        if m not in state:
            visit(m, [m])
