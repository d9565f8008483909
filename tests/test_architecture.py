"""The package's layers, as ARCHITECTURE.md draws them: every import points down (or sideways within a layer), no
two modules import each other, even through others, and every module has a place. Function-level imports count:
a lazy import is still a dependency."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "helpers"

#: Lowest first. A unit is a module (helpers.metrics) or a subpackage (helpers.models) taken whole.
LAYERS = {
    "foundations": [
        "helpers.runtime",
        "helpers.images",
        "helpers.bitstream",
        "helpers.metrics",
        "helpers.losses",
        "helpers.transforms",
        "helpers.rd",
        "helpers.entropy",
    ],
    "data, models and classical codecs": [
        "helpers.datasets",
        "helpers.classical",
        "helpers.distortions",
        "helpers.models",
    ],
    "checkpoints": ["helpers.checkpoints"],
    "measurement": ["helpers.evaluate", "helpers.channel"],
    "training": ["helpers.train"],
    "studies": ["helpers.study"],
    "tools and chapters": ["helpers.codec", "helpers.notebook"],
}
LEVEL = {unit: i for i, units in enumerate(LAYERS.values()) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _unit(module: str) -> str:
    return ".".join(module.split(".")[:2])


def _imports(path: Path) -> set[str]:
    """Every helpers module that ``path`` imports, at any depth of the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "helpers"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] != "helpers":
                continue
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}  # `from . import checkpoints` names a module
    return {m for m in found if _unit(m) != "helpers" or m == "helpers"}


def _graph() -> dict[str, set[str]]:
    units = {_unit(m) for m in map(_module_name, PACKAGE.rglob("*.py")) if m != "helpers"}
    graph = {u: set() for u in units}
    for path in PACKAGE.rglob("*.py"):
        src = _unit(_module_name(path))
        if src == "helpers":
            continue
        graph[src] |= {_unit(m) for m in _imports(path) if _unit(m) in units and _unit(m) != src}
    return graph


def test_every_module_has_a_layer():
    missing = sorted(set(_graph()) - set(LEVEL))
    assert not missing, f"place {missing} in a layer of ARCHITECTURE.md and of LAYERS here"
    text = (ROOT / "ARCHITECTURE.md").read_text()
    for unit in LEVEL:
        assert f"`{unit.removeprefix('helpers.')}" in text, f"ARCHITECTURE.md does not describe {unit}"


@pytest.mark.parametrize("unit", sorted(LEVEL))
def test_imports_only_point_down(unit):
    upward = sorted(d for d in _graph().get(unit, ()) if LEVEL[d] > LEVEL[unit])
    assert not upward, f"{unit} (layer {LEVEL[unit]}) imports {upward} from a higher layer"


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}

    def visit(u, path):
        state[u] = 1
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, u, v]))
            if v not in state:
                visit(v, [*path, u])
        state[u] = 2

    for u in sorted(graph):
        if u not in state:
            visit(u, [])


def test_the_package_builds_no_path_from_its_own_location_upwards():
    """After `pip install` a path like `Path(__file__).parents[1] / "benchmarks"` points into site-packages: nothing
    there. Paths come in as arguments (or a documented environment variable); the package's own files (its
    weights) are the only ones it finds beside itself."""
    for path in PACKAGE.rglob("*.py"):
        for line in path.read_text().splitlines():
            if "__file__" in line:
                assert "parents[" not in line and ".parent.parent" not in line, f"{path.relative_to(ROOT)}: {line}"
