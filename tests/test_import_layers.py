"""No import circle in cgcap: the modules' top-level imports form a graph without cycles, so every
module can be read (and imported) after the ones it depends on; and its packages form layers, counting
imports made inside functions too, but for the lazy loads listed in LAZY_LOADS."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path, modules: set[str]) -> set[str]:
    """cgcap modules that importing ``path`` imports, counting the packages each import passes through."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    names: set[str] = set()
    for node in tree.body:  # module level only; `if TYPE_CHECKING:` blocks import nothing at run time
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    found = set()
    for name in names:
        parts = name.split(".")
        for end in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
            prefix = ".".join(parts[:end])
            if prefix in modules:
                found.add(prefix)
    # A module's own ancestor packages are always imported first (Python's rule), never "circularly".
    own = module_name(path).split(".")
    return found - {".".join(own[:end]) for end in range(1, len(own) + 1)}


def import_graph() -> dict[str, set[str]]:
    paths = sorted((ROOT / "cgcap").rglob("*.py"))
    modules = {module_name(path) for path in paths}
    return {module_name(path): top_level_imports(path, modules) for path in paths}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_detector_finds_a_circle_through_a_package():
    graph = {"cgcap.a": {"cgcap.b"}, "cgcap.b": {"cgcap.c"}, "cgcap.c": {"cgcap.a"}, "cgcap.d": {"cgcap.a"}}
    assert cycles(graph) == [["cgcap.a", "cgcap.b", "cgcap.c"]]


def test_no_import_circle_in_cgcap():
    assert cycles(import_graph()) == []


def all_imports(path: Path) -> set[str]:
    """Every module name ``path`` imports anywhere, function-level (lazy) imports included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def importers(package: str, imported: str) -> list[str]:
    """Modules under ``package`` that import ``imported`` (or anything inside it), at any level."""
    folder = ROOT / package.replace(".", "/")
    return sorted(module_name(path) for path in folder.rglob("*.py")
                  if any(name == imported or name.startswith(imported + ".") for name in all_imports(path)))


# Function-level imports that point back down the layers, each allowed for a reason. Nothing else may:
# a lazy import that closes a circle between packages is a layering error put off until run time.
LAZY_LOADS = {
    # The model store loads a tagger (YAMNet, EfficientNet-Lite2) as an encoder when its spec is asked for:
    # a row of the catalog naming an optional, heavy model, imported only when that model is used.
    ("cgcap.models", "cgcap.encoders"),
}


def package_graph(root: Path = ROOT, allowed: set[tuple[str, str]] = frozenset()) -> dict[str, set[str]]:
    """Which cgcap packages import which, counting imports inside functions, less the ``allowed`` pairs."""
    paths = sorted((root / "cgcap").rglob("*.py"))
    modules = {module_name_in(root, path) for path in paths}
    graph: dict[str, set[str]] = {}
    for path in paths:
        source = package_of_in(root, module_name_in(root, path))
        for name in all_imports(path):
            target = next((m for m in (name, name.rpartition(".")[0]) if m in modules), None)
            if target is None:
                continue
            target = package_of_in(root, target)
            if target != source and (source, target) not in allowed:
                graph.setdefault(source, set()).add(target)
    return graph


def module_name_in(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of_in(root: Path, module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 and (root / parts[0] / parts[1]).is_dir() else module


def test_no_package_circle_counting_function_level_imports():
    assert cycles(package_graph(allowed=LAZY_LOADS)) == []


def test_a_function_level_import_that_closes_a_circle_is_found(tmp_path):
    for package, body in {"low": "def f():\n    from cgcap.high import g\n", "high": "from cgcap.low import f\n"}.items():
        (tmp_path / "cgcap" / package).mkdir(parents=True)
        (tmp_path / "cgcap" / package / "__init__.py").write_text(body)
    (tmp_path / "cgcap" / "__init__.py").write_text("")
    assert cycles(package_graph(tmp_path)) == [["cgcap.high", "cgcap.low"]]
    assert cycles(package_graph(tmp_path, allowed={("cgcap.low", "cgcap.high")})) == []


def test_the_library_never_imports_the_deployments():
    # `cgcap serve` names the app by its import string (cgcap.serving.cli.APP_IMPORT_PATH).
    assert importers("cgcap", "deployments") == []


def test_the_model_store_never_imports_the_classifier():
    # minilm-l6-audibility is a row of cgcap/models/catalog.py naming its loader as a string.
    assert importers("cgcap.models", "cgcap.classifier") == []


def test_the_store_table_names_loaders_that_exist_and_are_imported_only_when_used():
    import subprocess
    import sys

    from cgcap.models.catalog import CATALOG
    from cgcap.models.store import import_attribute

    for entry in CATALOG:
        assert callable(import_attribute(entry.loader)), entry.name
        assert entry.availability is None or callable(import_attribute(entry.availability)), entry.name
    # Listing what the store knows imports none of the loaders' modules.
    code = ("import sys; from cgcap.models import known_models; known_models();"
            "loaded = sorted(m for m in sys.modules if m.startswith(('cgcap.classifier', 'cgcap.models.packaged',"
            " 'cgcap.models.tiny', 'transformers', 'torch')));"
            "assert not loaded, loaded")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_media_format_modules_depend_only_on_the_media_types():
    for name in ("media_audio", "media_image", "media_video"):
        imported = {m for m in all_imports(ROOT / "cgcap" / "data" / f"{name}.py") if m.startswith("cgcap.data")}
        assert imported <= {"cgcap.data.media_types"} | {f"cgcap.data.media_types.{n}" for n in dir_names()}, (
            name, imported)


def dir_names() -> set[str]:
    tree = ast.parse((ROOT / "cgcap" / "data" / "media_types.py").read_text())
    return {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))} | {
        target.id for node in tree.body if isinstance(node, ast.Assign) for target in node.targets
        if isinstance(target, ast.Name)}
