"""The package layout: no import cycle between packages, the command line and the page reach engines
and models only through ``stemgen.api``, and stems come from the registry.

Imports are read from the source (``ast``), counting those written inside functions, so a lazy
import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Folders installed under the stemgen namespace (pyproject's package-dir).
NAMESPACE = {"stemgen": "stemgen", "midi": "stemgen.midi", "ui": "stemgen.ui", "prompts": "stemgen.prompts"}
# What the command line and the page may not import directly: the engines, model loading and lookup
# (training and evaluation commands may use the training and evaluation packages).
ENGINE_MODULES = ("stemgen.arranger", "stemgen.generation", "stemgen.midi.generate", "stemgen.midi.batch",
                  "stemgen.pipelines", "stemgen.catalog")


def library_modules() -> dict[str, Path]:
    modules = {}
    for folder, package in NAMESPACE.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            parts = list(path.relative_to(REPO / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join([package, *parts])] = path
    return modules


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """Every library module ``name`` imports, at module level or inside functions."""
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [module] + [f"{module}.{a.name}" for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in known and t != name)
    return found


def package_of(module: str) -> str:
    """``stemgen.X`` for anything under ``stemgen.X`` (a top-level module is its own package)."""
    return ".".join(module.split(".")[:2])


def package_graph() -> dict[str, set[str]]:
    modules = library_modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in imported_modules(name, path, set(modules)):
            if package_of(target) != package_of(name):
                graph[package_of(name)].add(package_of(target))
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_cycle_finder_finds_a_cycle_and_accepts_a_layered_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_import_graph_has_no_cycle():
    graph = package_graph()
    assert "stemgen.cli" in graph and "stemgen.midi" in graph  # the graph was read
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle)


@pytest.mark.parametrize("face", ["stemgen.cli", "stemgen.ui"])
def test_command_line_and_page_reach_engines_only_through_the_api(face):
    modules = library_modules()
    offending = []
    for name, path in modules.items():
        if package_of(name) != face:
            continue
        for target in imported_modules(name, path, set(modules)):
            if any(target == e or target.startswith(e + ".") for e in ENGINE_MODULES):
                offending.append(f"{name} imports {target}")
    assert not offending, "use stemgen.api instead: " + "; ".join(offending)


def test_low_layers_do_not_import_the_layers_above():
    graph = package_graph()
    ground = {"stemgen.stems", "stemgen.errors", "stemgen.fileio", "stemgen.stats", "stemgen.splits", "stemgen.cards",
              "stemgen.ema"}
    for package in ground:
        assert graph.get(package, set()) <= ground, f"{package} imports {graph[package] - ground}"
    for low in ("stemgen.midifile", "stemgen.render", "stemgen.analysis", "stemgen.audio"):
        above = {"stemgen.midi", "stemgen.arranger", "stemgen.generation", "stemgen.evaluation", "stemgen.api",
                 "stemgen.cli", "stemgen.ui"}
        assert not graph.get(low, set()) & above, f"{low} imports {graph[low] & above}"


def test_stem_tables_follow_the_registry():
    from stemgen import STEMS
    from stemgen.arranger.loudness import DEFAULT_LEVEL_DB
    from stemgen.generation.defaults import DEFAULT_ENGINE
    from stemgen.midi.generate import DEFAULT_MODELS
    from stemgen.midifile.lanes import DEFAULT_PROGRAM, PITCH_LOW, track_role
    from stemgen.render.families import FAMILIES, family_of
    from stemgen.render.sounds import CHANNELS, SOUNDS
    from stemgen.stems import DRUM_CHANNEL, REGISTRY, get_stem

    assert STEMS == tuple(REGISTRY) == ("drums", "bass", "guitar")
    assert FAMILIES == (*STEMS, "other")
    for name, spec in REGISTRY.items():
        assert DEFAULT_ENGINE[name] == spec.default_engine
        assert DEFAULT_LEVEL_DB[name] == spec.default_level_db
        assert DEFAULT_PROGRAM[name] == spec.default_program
        assert DEFAULT_MODELS[name] == spec.part_model
        assert CHANNELS[name] == spec.channel
        assert name in SOUNDS
        if not spec.is_drum:
            assert PITCH_LOW[name] == spec.pitch_low
            assert all(family_of(p) == track_role(p, False) == name for p in spec.programs)
    assert CHANNELS["drums"] == DRUM_CHANNEL == 9
    assert track_role(0, True) == "drums" and track_role(0, False) == "other" and track_role(33, False) == "bass"
    with pytest.raises(ValueError, match="unknown stem 'keys'"):
        get_stem("keys")
