"""The package's shape, read from its source with `ast` (nothing is imported):

- no import cycle among the modules of `bootstrap`: neither among the imports that run when a module is
  imported, nor once the imports inside functions are counted too (a deferred import that closes a cycle only
  hides it, until the day someone moves it up);
- no module over 400 lines, except generated ones;
- every import inside a function says why it is deferred, with one of the reasons in `REASONS`, and defers
  something: no module it names is loaded already by the module's own imports.

An import *runs* when it is outside any function body (module body, class bodies, `if`/`try` blocks), except
under `if TYPE_CHECKING:`, which never runs (annotations are strings). Importing `a.b.c` from a module M also
runs the packages `a` and `a.b`, unless M is inside them (then they are loaded already): a package `__init__`
that re-exports its submodules is part of any path that enters the package from outside. Imports made from a
string (`importlib.import_module`, `__import__`: `engines.REGISTERED`, `cli.entry.FAST`) are not seen.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import sys
import tokenize
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import bootstrap

PACKAGE = Path(bootstrap.__file__).parent
ROOT = PACKAGE.parent
MAX_LINES = 400
#: generated from another source of truth, and checked against it by their own tests; their size is that
#: of the data (every command's help and options; Go's Unicode tables), which no split would make readable
GENERATED = {
    "bootstrap/cli/_helptext.py": "python -m bootstrap.cli.helpcache (tests/unit/test_help_cache.py)",
    "bootstrap/engines/flux/envsubst_tables.py": "hack/oracles/envsubst -python-tables (test_envsubst_oracle.py)",
}
#: why an import may wait until its function runs; the comment says `# deferred: <reason> (what, for whom)`,
#: on the import's line or on the comment lines directly above it (above the first of a block of imports
#: covers the block). "import cycle" is not one: the cycle tests count deferred imports too. The test can
#: check that a reason is given and that the import defers something, not that the reason is true: the start-up
#: paths are checked by tests/unit/test_help_cache.py (typer, click, rich, kubernetes, bootstrap.kube stay off).
REASONS = {
    "start-up": "keeps the module off a path that must start fast: `--help`, `--version`, `version`, `check`, "
                "`decrypt` (cli.entry), and the typer app, which loads a command's code only when it runs",
    "clone": "a restore or plan starts its clone first: what the clone does not need loads while git clones "
             "(stages/session.py) or after it, not before",
    "optional": "a dependency only one feature uses: `kubernetes` (a kubeconfig's legacy auth-provider), "
                "drb_localcluster (`drill --cluster local`)",
    "heavy": "a costly module only some runs of the commands that load this one need (rich for `-o human`, "
             "aiohttp to connect, cryptography for an SSH key, the verify stage to restore)",
}
DEFERRED = re.compile(r"#\s*deferred:\s*(?P<reason>[a-z-]+)")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    line: int
    end: int
    runs: str  # "module" (runs on import), "function" (when its function runs), "typing" (never)
    named: tuple[str, ...]  # the modules of `bootstrap` it names
    targets: tuple[str, ...]  # the modules of `bootstrap` it loads: those named, and the packages on the way
    names: tuple[str, ...]  # dotted names outside `bootstrap` it loads

    def where(self) -> str:
        return f"{path_of(self.module)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def path_of(module: str) -> str:
    return str(modules()[module].relative_to(ROOT))


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imported(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The modules `node` names: `import a.b` → a.b; `from a import b` → a.b if that is a module, else a."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if modules()[module].name == "__init__.py" else module.split(".")[:-1]
        base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
    inside = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules()]
    return inside or [base]


@cache
def imports(module: str) -> tuple[Import, ...]:
    return _imports_in(ast.parse(modules()[module].read_text()), module)


def _imports_in(tree: ast.Module, module: str) -> tuple[Import, ...]:
    found: list[Import] = []

    def visit(node: ast.AST, runs: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                visit(child, "function")
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), "typing" if runs == "module" else runs)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), runs)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                named = _imported(child, module)
                ours = [n for n in named if n in modules()]
                # the packages on the way run too, unless this module is inside them (they are loaded already)
                on_the_way = [p for n in ours for p in _ancestors(n) if p not in _ancestors(module) and p != module]
                found.append(Import(module, child.lineno, child.end_lineno or child.lineno, runs, tuple(ours),
                                    tuple(dict.fromkeys(ours + on_the_way)),
                                    tuple(n for n in named if n not in modules())))
            else:
                visit(child, runs)

    visit(tree, "module")
    return tuple(found)


def graph(*runs: str) -> dict[str, dict[str, list[Import]]]:
    """module -> module it imports -> the import statements, for imports that run as `runs` says."""
    out: dict[str, dict[str, list[Import]]] = {m: {} for m in modules()}
    for module in modules():
        for imp in imports(module):
            if imp.runs in runs:
                for target in imp.targets:
                    if target != module:
                        out[module].setdefault(target, []).append(imp)
    return out


def cycles(edges: dict[str, dict[str, list[Import]]]) -> list[list[str]]:
    """A shortest cycle through every import edge that lies on a cycle (so every edge to cut is named once)."""
    found: dict[tuple[str, ...], list[str]] = {}
    for source in edges:
        for target in edges[source]:
            back = _path(edges, target, source)
            if back is not None:
                cycle = [source, *back]
                start = cycle.index(min(cycle[:-1]))
                key = tuple(cycle[start:-1] + cycle[:start])
                found.setdefault(key, [*key, key[0]])
    return sorted(found.values())


def _path(edges: dict[str, dict[str, list[Import]]], start: str, goal: str) -> list[str] | None:
    came: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while (prev := came[path[-1]]) is not None:
                path.append(prev)
            return path[::-1]
        for nxt in edges[node]:
            if nxt not in came:
                came[nxt] = node
                queue.append(nxt)
    return None


def render(cycle: list[str], edges: dict[str, dict[str, list[Import]]]) -> str:
    hops = [f"{a} ({', '.join(f'{i.where()} {i.runs}' for i in edges[a][b])})" for a, b in zip(cycle, cycle[1:])]
    return " -> ".join(hops + [cycle[-1]])


# ------------------------------------------------------------------------------------------------ cycles


def test_no_import_cycle_among_the_imports_that_run_at_import():
    edges = graph("module")
    found = cycles(edges)
    assert not found, "import cycles:\n" + "\n".join(render(c, edges) for c in found)


def test_no_import_cycle_counting_the_imports_inside_functions():
    edges = graph("module", "function")
    found = cycles(edges)
    assert not found, "import cycles (a deferred import only hides one):\n" + "\n".join(
        render(c, edges) for c in found)


def test_the_cycle_finder_names_every_cycle_once():
    def imp(a: str) -> list[Import]:
        return [Import(a, 1, 1, "module", (), (), ())]

    edges = {"a": {"b": imp("a")}, "b": {"a": imp("b"), "c": imp("b")}, "c": {"a": imp("c")}, "d": {"a": imp("d")}}
    assert cycles(edges) == [["a", "b", "a"], ["a", "b", "c", "a"]]
    assert cycles({"a": {"b": imp("a")}, "b": {}}) == []


# ------------------------------------------------------------------------------------------------ size


def test_no_module_is_over_400_lines():
    sizes = {path_of(m): len(p.read_text().splitlines()) for m, p in modules().items()}
    over = {path: n for path, n in sizes.items() if n > MAX_LINES and path not in GENERATED}
    assert not over, f"modules over {MAX_LINES} lines: {over}"


def test_the_size_exceptions_are_generated_files():
    for path in GENERATED:
        head = (ROOT / path).read_text()[:400].lower()
        assert "generated" in head and "do not edit" in head, f"{path} is no longer generated: drop its exception"


# ------------------------------------------------------------------------------------------------ deferred


def reason_of(imp: Import) -> str | None:
    return reason_in(modules()[imp.module].read_text(), imp, imports(imp.module))


def reason_in(source: str, imp: Import, others: tuple[Import, ...]) -> str | None:
    """The reason in a comment on the import's lines, else in the comment lines directly above it or above the
    imports it follows (blank lines between them allowed); None without one."""
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    comments = {t.start[0]: t.string for t in tokens if t.type == tokenize.COMMENT}
    lines = source.splitlines()
    for line in range(imp.line, imp.end + 1):
        if line in comments and (found := DEFERRED.search(comments[line])):
            return found["reason"]
    starts = {i.end: i.line for i in others}  # an import ending on a line -> its first line
    line = imp.line - 1
    while line in starts or (line >= 1 and not lines[line - 1].strip() and line - 1 in starts):
        line = starts[line] - 1 if line in starts else line - 1  # up over the imports before this one
    while line >= 1 and lines[line - 1].lstrip().startswith("#"):  # the comment lines above them
        if found := DEFERRED.search(lines[line - 1]):
            return found["reason"]
        line -= 1
    return None


def test_every_deferred_import_says_why():
    unexplained, unknown = [], []
    for module in modules():
        for imp in imports(module):
            if imp.runs == "function":
                reason = reason_of(imp)
                if reason is None:
                    unexplained.append(imp.where())
                elif reason not in REASONS:
                    unknown.append(f"{imp.where()}: {reason}")
    assert not unknown, f"not a reason to defer an import (one of {sorted(REASONS)}): {unknown}"
    assert not unexplained, ("imports inside functions without `# deferred: <reason>` "
                             f"(one of {sorted(REASONS)}), move them up or say why: {unexplained}")


@cache
def interpreter_modules() -> frozenset[str]:
    """What the interpreter has loaded before any module of ours."""
    out = subprocess.run([sys.executable, "-I", "-c", "import sys; print(*sys.modules)"], capture_output=True,
                         text=True, check=True).stdout
    return frozenset(out.split())


def loaded_by(module: str) -> tuple[set[str], set[str]]:
    """(modules of ours, other dotted names) loaded once `module` is imported, as far as the source tells."""
    ours, seen = set(), [module, *_ancestors(module)]
    while seen:
        current = seen.pop()
        if current not in ours:
            ours.add(current)
            seen += [t for i in imports(current) if i.runs == "module" for t in i.targets]
    names = {prefix for m in ours for i in imports(m) if i.runs == "module" for n in i.names
             for prefix in (*_ancestors(n), n)}
    return ours, names | interpreter_modules()


def test_every_deferred_import_defers_something():
    pointless = []
    for module in modules():
        ours, names = loaded_by(module)
        for imp in imports(module):
            if imp.runs == "function":
                already = [t for t in imp.named if t in ours] + [n for n in imp.names if n in names]
                if already:
                    pointless.append(f"{imp.where()}: {', '.join(already)}")
    assert not pointless, f"deferred imports of modules their module has loaded already (move them up): {pointless}"


def test_the_reason_is_read_from_the_import_or_the_comment_lines_above():
    def reasons(source: str) -> list[str | None]:
        found = _imports_in(ast.parse(source), "bootstrap")
        return [reason_in(source, imp, found) for imp in found]

    assert reasons("def f():\n    import a  # deferred: heavy (a is big)\n") == ["heavy"]
    block = ("def f():\n    # deferred: start-up (x)\n    # and more\n    import a\n"
             "    from b import (\n        c,\n    )\n    import d\n\n    import e\n\n    f()\n    import g\n")
    assert reasons(block) == ["start-up"] * 4 + [None]
    noqa = "def f():\n    # deferred: clone (x)\n    import a  # noqa: F401\n    import b  # noqa: F401\n"
    assert reasons(noqa) == ["clone"] * 2
    assert reasons("def f():\n    x = 1  # deferred: heavy\n    import a\n") == [None]
    assert reasons("def f():\n    try:  # deferred: heavy\n        import a\n    except ImportError:\n        pass\n"
                   ) == [None]
    assert reasons("def f():\n    import a  # deferred because\n") == [None]
