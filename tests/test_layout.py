"""The shape of the house: what the library may touch, say and import."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[1] / "src" / "profiling_dit"
LIBRARY_FILES = sorted(p for p in LIB.rglob("*.py") if "cli" not in p.relative_to(LIB).parts)


def _trees():
    for path in LIBRARY_FILES:
        yield path, ast.parse(path.read_text(), filename=str(path))


def _own_private_names() -> set[str]:
    """Every ``_name`` our own code defines: functions, classes, attributes it assigns, parameters, modules."""
    names = {p.stem for p in LIB.rglob("*.py")} | {p.name for p in LIB.rglob("*") if p.is_dir()}
    for path in LIB.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.arg):
                names.add(node.arg)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def test_private_diffusers_internals_only_in_compat():
    own = _own_private_names()
    found = []
    for path, tree in _trees():
        if path.name == "_compat.py":
            continue
        for node in ast.walk(tree):
            name = None
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                name = node.attr
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr")
                  and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)
                  and str(node.args[1].value).startswith("_")):
                name = node.args[1].value
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("diffusers"):
                name = next((a.name for a in node.names if a.name.startswith("_")), None)
            if name is not None and name not in own:
                found.append(f"{path.relative_to(LIB)}:{node.lineno}: {name}")
    assert found == [], "private diffusers names outside _compat.py:\n" + "\n".join(found)


@pytest.mark.parametrize("name", ["_diffusers_hook", "_state_cache", "_set_cache_context", "_reset_stateful_cache",
                                  "_context"])
def test_named_internals_appear_only_in_compat(name):
    users = [p.relative_to(LIB) for p in LIBRARY_FILES
             if p.name != "_compat.py" and any(name == t for t in _identifiers(p))]
    assert users == []


def _identifiers(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            yield node.attr
        elif isinstance(node, ast.Name):
            yield node.id
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value


def _cli_flags() -> set[str]:
    import typer.main

    from profiling_dit.cli.app import app

    group = typer.main.get_command(app)
    flags = set()
    for command in group.commands.values():
        for param in command.params:
            flags.update(o for o in (*param.opts, *param.secondary_opts) if o.startswith("--"))
    return flags


def _message_strings(node: ast.AST):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            yield sub.value


def test_no_library_message_names_a_cli_flag():
    flags = _cli_flags()
    assert "--interval-max" in flags and "--background-share" in flags
    found = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            calls = []
            if isinstance(node, ast.Raise) and node.exc is not None:
                calls.append(node.exc)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "warn"):
                calls.append(node)
            for call in calls:
                for text in _message_strings(call):
                    for flag in flags:
                        if flag in text.split("`")[0::2] or any(
                                flag == word.strip(".,;:()'\"") for word in text.split()):
                            found.append(f"{path.relative_to(LIB)}:{node.lineno}: {flag} in {text!r}")
    assert found == [], "\n".join(found)


def test_cli_turns_parameter_names_into_flags(cli, tmp_path):
    res = cli("generate", "--profile", LIB / "assets" / "profiles" / "tiny-wan.json", "--prompt", "x",
              "--interval-min", 4, "--interval-max", 2, "--out", tmp_path / "v.npy")
    assert res.exit_code == 2
    assert "--interval-max (2) must be >= --interval-min (4)" in res.output


def _run(code: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


@pytest.mark.slow
def test_running_the_embedded_model_needs_none_of_its_tooling():
    out = _run(
        "import sys, profiling_dit as pdit\n"
        "m = pdit.load_pipeline('tiny', device='cpu')\n"
        "p = pdit.Profile.load(pdit.shipped_profile('tiny'))\n"
        "pdit.apply(m.pipe, p)\n"
        "pdit.generate(m, pdit.GenerationSettings(prompt='a red ball', steps=2, height=32, width=32, frames=5))\n"
        "pdit.remove(m.pipe)\n"
        "print(sorted(n for n in sys.modules if n.startswith('profiling_dit.embedded') or n.split('.')[0] in "
        "('typer', 'rich', 'click')))\n")
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.slow
def test_reading_a_profile_does_not_import_diffusers():
    out = _run("import sys, profiling_dit as pdit\n"
               "p = pdit.Profile.load(pdit.shipped_profile('tiny')); c = pdit.make_plan(p, steps=30)\n"
               "print('diffusers' in sys.modules, c.steps)\n")
    assert out.split()[0] == "False"


# --- the import graph: one way, no cycle ---------------------------------------------------------------
def _module_of(path: Path) -> str:
    rel = path.relative_to(LIB.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Every module of the package -> the package modules it imports, anywhere in it (lazy imports inside functions
    and typing-only ones included: a cycle through them is a cycle all the same)."""
    modules = {_module_of(p): p for p in LIB.rglob("*.py")}
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    assert node.level <= len(anchor), f"{name}:{node.lineno}: relative import beyond the package"
                    anchor = anchor[:len(anchor) - node.level + 1]
                    base = ".".join(anchor + ([base] if base else []))
                targets = [f"{base}.{a.name}" for a in node.names] + [base]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                while t and t not in modules:
                    t = t.rsplit(".", 1)[0] if "." in t else ""
                if t and t != name and not name.startswith(t + "."):  # a package's own __init__ is not a dependency
                    graph[name].add(t)
    return graph


def test_the_package_has_no_import_cycle():
    graph = _import_graph()
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                cycles.append(sorted(scc))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


# (importer, what it must not import): stage one never reaches into stage two, and the floors below both reach
# into neither; only the CLI imports the CLI.
_FORBIDDEN = [
    ("profiling_dit.profile", ("profiling_dit.caching", "profiling_dit.bench", "profiling_dit.cli",
                               "profiling_dit.embedded", "profiling_dit.preflight")),
    ("profiling_dit.caching", ("profiling_dit.bench", "profiling_dit.cli", "profiling_dit.embedded",
                               "profiling_dit.preflight")),
    *[(low, ("profiling_dit.profile", "profiling_dit.caching", "profiling_dit.bench", "profiling_dit.cli",
             "profiling_dit.embedded", "profiling_dit.preflight"))
      for low in ("profiling_dit.pipeline", "profiling_dit.models", "profiling_dit.plan", "profiling_dit.metrics",
                  "profiling_dit._io", "profiling_dit._compat", "profiling_dit._validate", "profiling_dit._progress",
                  "profiling_dit._plotting", "profiling_dit.errors", "profiling_dit.environment")],
]


def test_imports_run_one_way():
    graph = _import_graph()
    found = []
    for importer, banned in _FORBIDDEN:
        for module, targets in graph.items():
            if module == importer or module.startswith(importer + "."):
                found += [f"{module} imports {t}" for t in targets if any(t == b or t.startswith(b + ".") for b in banned)]
    for module, targets in graph.items():
        if not module.startswith("profiling_dit.cli"):
            found += [f"{module} imports {t}" for t in targets if t.startswith("profiling_dit.cli")]
    assert found == [], "\n".join(sorted(set(found)))


def test_cli_commands_are_thin():
    """Each command (a function under ``friendly_errors``) parses, shows and calls: 60 lines at most, signature
    included; what they share is in option groups and library functions."""
    long = []
    for path in sorted((LIB / "cli").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(
                    isinstance(d, ast.Name) and d.id == "friendly_errors" for d in node.decorator_list):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60:
                    long.append(f"{path.name}:{node.name} {lines} lines")
    assert long == []


# "module:function" -> why it may be longer (none now: a new entry says why)
LONG_FUNCTIONS: dict[str, str] = {}


def test_library_functions_fit_on_a_screen():
    """Every library function (cli/ aside: its commands have their own test) is 60 lines at most, signature and
    docstring included: a longer one is a sign to build the list of work first and derive the rest from it."""
    allowed = dict(LONG_FUNCTIONS)
    long = []
    for path, tree in _trees():
        module = path.relative_to(LIB).as_posix()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > 60 and f"{module}:{node.name}" not in allowed:
                    long.append(f"{module}:{node.name} {lines} lines")
    assert long == []
