"""Layering you can see: every import (lazy ones inside functions too) points down the layers, surfaces
never import the CLI, and no private name is imported across packages.

Layers, bottom up (a module may import its own layer and those below):

0. base: errors, records, paths, format, stats (no efflab imports above them)
1. config (its prompt protocol is a tasks type), sensors, models, tasks, zoo (the offline family builds
   models from tasks)
2. measuring
3. store (the sweep writes into it), options (declarations; parses a country with measuring.carbon)
4. analysis (pure functions over frames; the adaptive sweep asks it for the pareto contenders)
5. sweep
6. plots, label, publish (the model card section and BoAmps records)
7. surfaces: report, dashboard, widgets, cli (and the server launcher they share)
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RANK: dict[str, int] = {
    "errors": 0,
    "records": 0,
    "config": 1,
    "paths": 0,
    "format": 0,
    "stats": 0,
    "sensors": 1,
    "models": 1,
    "tasks": 1,
    "zoo": 1,
    "measuring": 2,
    "store": 3,
    "options": 3,
    "analysis": 4,
    "sweep": 5,
    "plots": 6,
    "label": 6,
    "publish": 6,
    "report": 7,
    "dashboard": 7,
    "widgets": 7,
    "cli": 7,
    "servers": 7,
}
SURFACES = ("report", "dashboard", "widgets")
# The package's front door re-exports from several layers; ``efflab.__version__`` is metadata.
FACADE = "efflab"


def _part(module: str) -> str:
    """The layer part of a dotted module name: ``efflab.sweep.run`` -> ``sweep``, ``widgets.lab`` ->
    ``widgets``, ``efflab`` -> ``efflab``."""
    parts = module.split(".")
    if parts[0] == "widgets":
        return "widgets"
    return parts[1] if len(parts) > 1 else FACADE


def _modules() -> list[tuple[str, Path]]:
    out = []
    for f in sorted([*ROOT.glob("efflab/**/*.py"), *ROOT.glob("widgets/**/*.py")]):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), f))
    return out


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) for every efflab/widgets import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names], node.lineno))
    return [(m, n, line) for m, n, line in out if m == "efflab" or m.startswith(("efflab.", "widgets"))]


def _targets(module: str, names: list[str]) -> list[str]:
    """The modules an import reaches: ``from efflab import format`` reaches ``efflab.format``."""
    if module != "efflab":
        return [module]
    subs = [n for n in names if (ROOT / "efflab" / n).is_dir() or (ROOT / "efflab" / f"{n}.py").exists()]
    return [f"efflab.{n}" for n in subs] or [module]


def test_every_package_has_a_layer() -> None:
    parts = {_part(m) for m, _ in _modules()} - {FACADE}
    assert parts <= set(RANK), f"give these a layer in tests/test_layers.py: {sorted(parts - set(RANK))}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for mod, path in _modules():
        src = _part(mod)
        if src == FACADE:
            continue
        for imported, names, line in _imports(path):
            for target in _targets(imported, names):
                dst = _part(target)
                if dst == FACADE:
                    if set(names) - {"__version__"}:
                        upward.append(
                            f"{path.relative_to(ROOT)}:{line}: imports from the efflab facade: {names}"
                        )
                    continue
                if RANK[dst] > RANK[src]:
                    upward.append(
                        f"{path.relative_to(ROOT)}:{line}: {src} (layer {RANK[src]}) imports {target} (layer {RANK[dst]})"
                    )
    assert not upward, "imports running back up the layers:\n" + "\n".join(upward)


def test_surfaces_never_import_the_cli() -> None:
    bad = [
        f"{path.relative_to(ROOT)}:{line}: {imported}"
        for mod, path in _modules()
        if _part(mod) in SURFACES
        for imported, names, line in _imports(path)
        if any(_part(t) == "cli" for t in _targets(imported, names))
    ]
    assert not bad, "surfaces importing the CLI:\n" + "\n".join(bad)


def test_no_private_name_is_imported_across_packages() -> None:
    bad = []
    for mod, path in _modules():
        for imported, names, line in _imports(path):
            if _part(imported) == _part(mod):
                continue
            private = [n for n in names if n.startswith("_") and n != "__version__"]
            # A private module (``efflab._x``, ``efflab.sensors._y``) is private to its own package.
            if private or any(p.startswith("_") and p != "__init__" for p in imported.split(".")[1:]):
                bad.append(
                    f"{path.relative_to(ROOT)}:{line}: from {imported} import {', '.join(private) or '…'}"
                )
    assert not bad, "private names imported across packages:\n" + "\n".join(bad)
