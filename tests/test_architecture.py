"""docs/architecture.md stays the map of the code: the import direction it draws holds (the stages never
import each other, the diagnosis libraries and the foundation never import a stage, only the top level puts
things together), and its modules table names every module and no other."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGE = ROOT / "processor" / "failpath"
# Lower layers first; a module may import its own unit and anything in a lower layer.
LAYERS: list[set[str]] = [
    {"config_types", "consumer", "otlp", "store", "metrics", "logs", "listen", "http_server"},
    {"signals"},
    {"agents"},
    {"diagnosis"},
    # The stages, in pipeline order: each its own unit, none importing another.
    {"receivers", "redaction", "spool", "sampling", "packets", "exporters"},
    {"admin", "dashboard", "config", "pipeline", "offline_diagnosis", "recorded", "cli", "__main__", "agent", "demo"},
]
# Units that share a layer but may not import each other.
INDEPENDENT = [LAYERS[0] - {"otlp", "store", "config_types"}, LAYERS[4]]


def _unit(module: str) -> str:
    """failpath.sampling.stage -> sampling; failpath.consumer -> consumer."""
    return module.split(".")[1]


def _layer(unit: str) -> int:
    return next(index for index, units in enumerate(LAYERS) if unit in units)


def _imports() -> list[tuple[str, str, str]]:
    """(file, importing unit, imported unit) for every failpath import, TYPE_CHECKING ones included."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent)
        unit = relative.parts[1].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name.startswith("failpath.") and _unit(name) != unit:
                    found.append((str(relative), unit, _unit(name)))
    return found


def test_every_unit_has_a_layer() -> None:
    units = {path.stem for path in PACKAGE.iterdir() if path.is_dir() or path.suffix == ".py"}
    assert units - {"__init__", "__pycache__"} - set().union(*LAYERS) == set()


def test_imports_run_down_the_layers_only() -> None:
    upward = [f"{file}: {unit} imports {target}" for file, unit, target in _imports() if _layer(target) > _layer(unit)]
    assert upward == []


def test_units_of_one_layer_stay_apart() -> None:
    across = [
        f"{file}: {unit} imports {target}"
        for file, unit, target in _imports()
        for group in INDEPENDENT
        if unit in group and target in group
    ]
    assert across == []


def test_the_modules_table_names_every_module() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    table = doc[doc.index("## Modules") : doc.index("\n## ", doc.index("## Modules") + 1)]
    named = set()
    for cell in re.findall(r"^\| (.+?) \|", table, re.M):
        folder = ""
        for part in re.findall(r"`([\w/.]+)`", cell):
            if "/" in part:  # `redaction/stage.py`, `config.py`: the second is in the same folder
                folder = part.rsplit("/", 1)[0] + "/"
                named.add(part)
            else:
                named.add(folder + part)
    sources = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.c")]  # C extensions are modules too
    modules = {str(p.relative_to(PACKAGE)) for p in sources if p.name not in ("__init__.py", "__main__.py")}
    assert sorted(modules - named) == [], "modules missing from docs/architecture.md"
    assert sorted(named - modules) == [], "docs/architecture.md names modules that do not exist"
