"""The package's shape: layers that only import downwards, no import cycle, imports at module top,
and a command line that starts without pandas, numpy or torch.

The layers (docs/design.md has the picture); a module may import its own package and any package
of a lower layer, never one of its own layer or above:

====  ==========================================================================================
0     errors (and ``cardiolatent.__version__``)
1     io_utils, scale (Dask clusters: imports only errors, the standard library and the optional dask)
2     latents, results, ukb, stats, model
3     images
4     encode, synth, train  (they take what they need from images and model, not each other)
5     analysis
6     exports, interpret
7     gwas (reads back what a format of exports asked the tool to write)
8     genetics (after the GWAS: heritability, genetic correlation, polygenic scores)
9     plotting (figures from the results of every layer below; results reach it by name, through
      ``cardiolatent.results.plotting_layer``, when they are drawn)
10    report (one HTML page from a results folder: the figures of plotting, embedded)
11    demo
12    commands, cli, __main__
====  ==========================================================================================

Besides: ``stats`` imports only ``errors`` and itself (numerical cores that know nothing of UK
Biobank); nothing outside ``commands``/``cli`` imports ``commands``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cardiolatent"

LAYERS = {
    "errors": 0, "io_utils": 1, "scale": 1,
    "latents": 2, "results": 2, "ukb": 2, "stats": 2, "model": 2,
    "images": 3,
    "encode": 4, "synth": 4, "train": 4,
    "analysis": 5,
    "exports": 6, "interpret": 6,
    "gwas": 7,
    "genetics": 8,
    "plotting": 9,
    "report": 10,
    "demo": 11,
    "commands": 12, "cli": 12, "__main__": 12,
}
#: the command line's own modules may import each other
COMMAND_LINE = {"commands", "cli", "__main__"}
#: modules allowed to import inside functions: the command line (fast --help) and the package's
#: lazy ``__getattr__``; torch may be imported lazily anywhere (documented in model/__init__.py)
LAZY_OK = {"commands", "cli", "__init__"}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT)
        name = ".".join(("cardiolatent",) + rel.with_suffix("").parts)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        yield name, path, ast.parse(path.read_text(encoding="utf-8"))


def _unit(module: str) -> str:
    """The layer unit of a module: ``cardiolatent.stats.cox.fit`` -> ``stats``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(tree: ast.Module, module: str, *, top_only: bool = False):
    """(imported cardiolatent module, line, at module level?) for every import in ``tree``."""
    top = set(map(id, tree.body))
    pkg_parts = module.split(".")
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = pkg_parts[: len(pkg_parts) - node.level + (1 if _is_pkg(module) else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        at_top = id(node) in top or _in_top_level_block(tree, node)
        if top_only and not at_top:
            continue
        for n in names:
            yield n, node.lineno, at_top


def _is_pkg(module: str) -> bool:
    return (ROOT / Path(*module.split(".")[1:]) / "__init__.py").exists()


def _in_top_level_block(tree: ast.Module, node) -> bool:
    """An import inside a module-level ``try``/``if`` counts as module level."""
    for stmt in tree.body:
        if isinstance(stmt, (ast.Try, ast.If)) and any(n is node for n in ast.walk(stmt)):
            return not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                           for n in ast.walk(stmt))
    return False


MODULES = list(_modules())
KNOWN = {m for m, _, _ in MODULES}


def _resolve(name: str) -> str | None:
    """The cardiolatent module a dotted import name refers to (``a.b.func`` -> ``a.b``)."""
    while name and name not in KNOWN:
        name = name.rpartition(".")[0]
    return name or None


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in KNOWN} - {"__init__"}
    assert units <= set(LAYERS), f"packages without a layer: {units - set(LAYERS)}"


@pytest.mark.parametrize("module, path, tree", MODULES, ids=[m for m, _, _ in MODULES])
def test_layers_only_import_downwards(module, path, tree):
    me = _unit(module)
    bad = []
    for name, line, _ in _imports(tree, module):
        if not name.startswith("cardiolatent"):
            continue
        target = _resolve(name)
        if target is None or target == "cardiolatent":
            continue  # cardiolatent.__version__
        other = _unit(target)
        if other == me or me == "__init__" or (me in COMMAND_LINE and other in COMMAND_LINE):
            continue
        if me == "stats" and other != "errors":
            bad.append(f"line {line}: stats imports {target} (stats may import only errors)")
        elif other == "commands" and me not in ("commands", "cli", "__main__"):
            bad.append(f"line {line}: {target} (only the command line imports commands)")
        elif LAYERS[other] >= LAYERS[me]:
            bad.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {target} (layer {LAYERS[other]})")
    assert not bad, f"{path.relative_to(ROOT.parent)}:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, set[str]] = {m: set() for m in KNOWN}
    for module, _, tree in MODULES:
        for name, _, _ in _imports(tree, module, top_only=True):
            t = _resolve(name) if name.startswith("cardiolatent") else None
            if t and t != module and not module.startswith(t + "."):  # a package's own __init__
                graph[module].add(t)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in graph[m]:
            if state.get(n) == 1:
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module, path, tree", MODULES, ids=[m for m, _, _ in MODULES])
def test_imports_at_module_top(module, path, tree):
    if _unit(module) in LAZY_OK or module.endswith("__main__") or path.name == "__init__.py":
        return  # the command line, and packages' lazy __getattr__ (torch stays out of `import cardiolatent`)
    late = [f"line {line}: {name}" for name, line, top in _imports(tree, module)
            if not top and name.split(".")[0] != "torch" and "." not in name.split(".", 1)[0]
            and not name.startswith("torch")]
    late = sorted(set(late))
    assert not late, f"{path.relative_to(ROOT.parent)} imports inside functions:\n" + "\n".join(late)


COMMAND_NAMES = ["demo", "synth", "fields", "covariates", "outcomes", "convert-main", "train", "encode", "ensemble", "icc",
                 "assoc", "cox", "export", "gwas-results", "heritability", "manipulate", "figures", "report", "cache"]


def test_help_imports_no_pandas_numpy_or_torch():
    code = (
        "import sys\n"
        "from cardiolatent.cli import main\n"
        "heavy = set()\n"
        f"for argv in [['--help']] + [[c, '--help'] for c in {COMMAND_NAMES!r}]:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "    heavy |= {m for m in ('pandas', 'numpy', 'torch') if m in sys.modules}\n"
        "    if heavy:\n"
        "        print('HEAVY', argv, sorted(heavy), file=sys.stderr)\n"
        "        break\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "HEAVY" not in res.stderr, res.stderr.splitlines()[-1]


def test_reading_and_preparing_do_not_import_torch():
    """Discovery, reading, preparation and the encode output tables stay torch-free to import;
    torch comes in only when something is resampled or encoded."""
    code = ("import sys; import cardiolatent.images.readers, cardiolatent.images.prepare, "
            "cardiolatent.images.pipeline, cardiolatent.encode.run, cardiolatent.model.config, "
            "cardiolatent.latents, cardiolatent.results; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
