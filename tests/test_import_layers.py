# Copyright 2026 The mammo_tf Authors. Licensed under the Apache License, Version 2.0.
"""The import-layer rule of docs/DESIGN.md, checked from the source (no Keras import).

Every module of ``mammo_tf`` is parsed with ``ast``; every import (top-level and
function-local; relative imports resolved) must go to the same or a lower layer, and the
module graph must have no cycle. The layer table below is the one in docs/DESIGN.md.
"""
import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Module prefix -> layer (low -> high). The longest matching prefix wins; a module whose
# last name part is ``__main__`` is a command (layer 9) wherever it lives (a ``python -m`` shim).
LAYERS = {
    "mammo_tf": 0,  # the package __init__ only: a name without a dot matches itself only
    "mammo_tf.errors": 0,
    "mammo_tf.constants": 0,
    "mammo_tf.utils": 0,
    "mammo_tf.backend": 0,
    "mammo_tf.io": 1,
    "mammo_tf.imaging": 1,
    "mammo_tf.datasets": 2,
    "mammo_tf.preprocess": 3,
    "mammo_tf.evaluate": 3,
    "mammo_tf.screening": 3,
    "mammo_tf.models": 4,
    "mammo_tf.runs": 5,
    "mammo_tf.serving": 5,
    "mammo_tf.inference": 5,
    "mammo_tf.training": 6,
    "mammo_tf.shen": 7,
    "mammo_tf.nyu": 8,
    "mammo_tf.deepminer": 8,
    "mammo_tf.commands": 9,
}
LAYER_NAMES = {0: "base", 1: "io", 2: "datasets", 3: "analysis", 4: "models", 5: "runs",
               6: "training", 7: "shen", 8: "methods", 9: "commands"}
COMMAND_LAYER = 9


def is_command(module):
    last = module.rsplit(".", 1)[-1]
    return last == "__main__"


def layer_of(module, layers=LAYERS, command_layer=COMMAND_LAYER):
    """The layer of ``module``: commands by name, else the longest matching prefix; None if
    the table has no entry (an unclassified module is itself a failure)."""
    if is_command(module):
        return command_layer
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        prefix = ".".join(parts[:n])
        if prefix in layers:
            return layers[prefix]
    return layers.get(module)  # the top package itself


def discover(root, package):
    """{module name: file path} for every .py file of ``package`` under ``root``."""
    modules = {}
    base = os.path.join(root, *package.split("."))
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel = os.path.relpath(dirpath, root)
        pkg = ".".join(rel.split(os.sep))
        for name in sorted(filenames):
            if not name.endswith(".py"):
                continue
            mod = pkg if name == "__init__.py" else f"{pkg}.{name[:-3]}"
            modules[mod] = os.path.join(dirpath, name)
    return modules


def _resolve(module, is_package, level, name):
    """Absolute module named by a relative import in ``module``."""
    parts = module.split(".")
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def imports_of(module, path, modules, package):
    """[(imported module, line)] for every import of ``package`` modules in the file.

    ``from X import name`` names the submodule X.name when that is a module, else X. The
    modules of a package's ``lazy_exports(__name__, {module: names})`` count as imports.
    Imports of names outside ``package`` are ignored.
    """
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    found = []

    def target(name):
        # the longest prefix of ``name`` that is a module of the package
        parts = name.split(".")
        for n in range(len(parts), 0, -1):
            candidate = ".".join(parts[:n])
            if candidate in modules:
                return candidate
        return None

    # a module's own ``if __name__ == "__main__":`` block runs only as a script (the entry point
    # of ``python -m``): its imports are not dependencies of the module
    main_blocks = [n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)]
    skipped = {id(n) for block in main_blocks for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "lazy_exports"
                and len(node.args) == 2 and isinstance(node.args[1], ast.Dict)):
            # a package's lazy re-exports name their modules in strings: imports all the same
            for key in node.args[1].keys:
                if isinstance(key, ast.Constant) and isinstance(key.value, str):
                    name = key.value if key.value.startswith(package + ".") else f"{module}.{key.value}"
                    t = target(name)
                    if t:
                        found.append((t, node.lineno))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == package or alias.name.startswith(package + "."):
                    t = target(alias.name)
                    if t:
                        found.append((t, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, is_package, node.level, node.module) if node.level else node.module
            if not base or not (base == package or base.startswith(package + ".")):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                t = sub if sub in modules else target(base)
                if t:
                    found.append((t, node.lineno))
    return found


def import_graph(root, package):
    modules = discover(root, package)
    graph = {}
    for mod, path in modules.items():
        found = imports_of(mod, path, modules, package)
        graph[mod] = sorted({(t, line) for t, line in found if t != mod})
    return modules, graph


def upward_imports(modules, graph, layers=LAYERS, command_layer=COMMAND_LAYER):
    """Lines 'a (layer) -> b (layer) at file:line' for every import that goes up a layer,
    and 'unclassified' lines for modules the table does not place."""
    problems = []
    for mod in sorted(graph):
        src = layer_of(mod, layers, command_layer)
        if src is None:
            problems.append(f"{mod}: not in the layer table")
            continue
        for t, line in graph[mod]:
            dst = layer_of(t, layers, command_layer)
            if dst is not None and dst > src:
                problems.append(f"{mod} (layer {src}) imports {t} (layer {dst}) "
                                f"at {os.path.relpath(modules[mod], REPO)}:{line}")
    return problems


def cycles(graph):
    """One cycle path ('a -> b -> ... -> a') per strongly connected component of size > 1."""
    edges = {m: sorted({t for t, _ in targets if t in graph}) for m, targets in graph.items()}
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []
    counter = [0]

    def strongconnect(v):  # iterative Tarjan
        work = [(v, iter(edges[v]))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(edges[w])))
                    advanced = True
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    sccs.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)

    paths = []
    for comp in sccs:
        members = set(comp)
        start = comp[0]
        # breadth-first search from start's successors back to start, inside the component
        prev = {}
        frontier = [start]
        seen = {start}
        found = None
        while frontier and found is None:
            nxt = []
            for u in frontier:
                for w in edges[u]:
                    if w not in members:
                        continue
                    if w == start:
                        found = u
                        break
                    if w not in seen:
                        seen.add(w)
                        prev[w] = u
                        nxt.append(w)
                if found is not None:
                    break
            frontier = nxt
        path = [start]
        node = found
        while node != start:
            path.append(node)
            node = prev[node]
        path = [start] + path[1:][::-1] + [start]
        paths.append(" -> ".join(path) + (f"   (component: {', '.join(comp)})" if len(comp) > len(path) - 1 else ""))
    return paths


def test_mammo_tf_imports_go_down_the_layers():
    modules, graph = import_graph(REPO, "mammo_tf")
    assert len(modules) > 50
    problems = upward_imports(modules, graph)
    assert not problems, "imports that go up a layer:\n" + "\n".join(problems)


def test_mammo_tf_has_no_import_cycles():
    _, graph = import_graph(REPO, "mammo_tf")
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(found)


def test_runs_package_imports_neither_serving_nor_inference():
    """Inside layer 5 the direction is fixed too: serving and inference use the run loader;
    the loader (and the run metadata) never import them."""
    _, graph = import_graph(REPO, "mammo_tf")
    found = [f"{mod} imports {t} (line {line})" for mod in sorted(graph)
             if mod == "mammo_tf.runs" or mod.startswith("mammo_tf.runs.")
             for t, line in graph[mod]
             if t.startswith(("mammo_tf.serving", "mammo_tf.inference"))]
    assert not found, "\n".join(found)


def test_layer_table_classifies_commands_by_name():
    assert layer_of("mammo_tf.commands.predict") == COMMAND_LAYER
    assert layer_of("mammo_tf.datasets.__main__") == COMMAND_LAYER
    assert layer_of("mammo_tf.datasets.__main__") == COMMAND_LAYER
    assert layer_of("mammo_tf.commands.runs") == COMMAND_LAYER
    assert layer_of("mammo_tf.runs.loader") == LAYERS["mammo_tf.runs"]
    assert layer_of("mammo_tf.screening.report") == LAYERS["mammo_tf.screening"]
    assert layer_of("mammo_tf.client_of_nothing") is None


def _write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


@pytest.fixture
def fake_package(tmp_path):
    root = str(tmp_path)
    _write(root, "fakepkg/__init__.py", "")
    _write(root, "fakepkg/base.py", "import os\n")
    _write(root, "fakepkg/low/__init__.py", "")
    _write(root, "fakepkg/low/a.py", "from fakepkg import base\n")
    _write(root, "fakepkg/high/__init__.py", "")
    _write(root, "fakepkg/high/b.py", "from ..low import a\n")
    _write(root, "fakepkg/high/__main__.py", "from fakepkg.high import b\n")
    layers = {"fakepkg": 0, "fakepkg.base": 0, "fakepkg.low": 1, "fakepkg.high": 2}
    return root, layers


def test_checker_passes_a_clean_package(fake_package):
    root, layers = fake_package
    # a module's own `if __name__ == "__main__":` block (its script entry point) may call up
    _write(root, "fakepkg/low/a.py", "from fakepkg import base\n\nif __name__ == '__main__':\n"
           "    from fakepkg.high import b\n")
    modules, graph = import_graph(root, "fakepkg")
    assert ("fakepkg.low.a", 1) in graph["fakepkg.high.b"]  # relative import resolved
    assert upward_imports(modules, graph, layers, 3) == []
    assert cycles(graph) == []


def test_checker_catches_a_planted_upward_import(fake_package):
    root, layers = fake_package
    # function-local and relative: still found
    _write(root, "fakepkg/low/a.py", "from fakepkg import base\n\ndef f():\n    from ..high import b\n    return b\n")
    _write(root, "fakepkg/base.py", "import fakepkg.high.__main__\n")
    # a lazy re-export is an import too
    _write(root, "fakepkg/low/__init__.py", "from fakepkg.base import lazy_exports\n"
           "__getattr__, __dir__, __all__ = lazy_exports(__name__, {'a': ('x',), 'fakepkg.high.b': ('y',)})\n")
    modules, graph = import_graph(root, "fakepkg")
    assert ("fakepkg.low.a", 2) in graph["fakepkg.low"]
    problems = upward_imports(modules, graph, layers, 3)
    assert len(problems) == 3, problems
    assert problems[0].startswith("fakepkg.base (layer 0) imports fakepkg.high.__main__ (layer 3)")
    assert problems[1].startswith("fakepkg.low (layer 1) imports fakepkg.high.b (layer 2)")
    assert problems[2].startswith("fakepkg.low.a (layer 1) imports fakepkg.high.b (layer 2)")
    assert problems[2].endswith("a.py:4")


def test_checker_catches_a_planted_cycle(fake_package):
    root, layers = fake_package
    _write(root, "fakepkg/low/c.py", "def g():\n    from fakepkg.low.d import x\n")
    _write(root, "fakepkg/low/d.py", "from fakepkg.low import e\nx = 1\n")
    _write(root, "fakepkg/low/e.py", "from . import c\n")
    _, graph = import_graph(root, "fakepkg")
    assert cycles(graph) == ["fakepkg.low.c -> fakepkg.low.d -> fakepkg.low.e -> fakepkg.low.c"]


def test_checker_flags_unclassified_modules(fake_package):
    root, layers = fake_package
    _write(root, "fakepkg/other.py", "")
    modules, graph = import_graph(root, "fakepkg")
    assert upward_imports(modules, graph, layers, 3) == ["fakepkg.other: not in the layer table"]
