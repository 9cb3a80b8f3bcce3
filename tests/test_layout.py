"""Package layout: the modules of ``numsim`` import one another without cycles.

The import graph is built from the source with :mod:`ast` (nothing is imported): one node per
module, one edge per ``import`` / ``from ... import`` statement that names a ``numsim`` module,
wherever it stands (imports inside functions count, so a deferred import cannot hide a cycle).
Imports guarded by ``if TYPE_CHECKING:`` are left out: they never run. ``from pkg import name``
is an edge to ``pkg.name`` when that is a module, else to ``pkg`` itself. A cycle means two
modules that cannot be understood (or imported) one without the other.

Run ``python tests/test_layout.py`` to print the graph's cycles.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from numsim.formats import CodeClass, Specials
from numsim.policies import AccKind, NanPolicy, Overflow, RoundMode, ScaleRule

ROOT = Path(__file__).resolve().parent.parent / "numsim"


def module_name(path: Path, root: Path = ROOT) -> str:
    """``numsim.a.b`` for ``root/a/b.py`` (``numsim.a`` for ``root/a/__init__.py``)."""
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` outside ``if TYPE_CHECKING:`` blocks."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Map each module under ``root`` to the modules under ``root`` it imports."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                targets = [
                    f"{mod}.{a.name}" if f"{mod}.{a.name}" in files else mod for a in node.names
                ]
            graph[name].update(t for t in targets if t in files and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_graph_sees_the_known_edges() -> None:
    """The parser finds edges of every form used in the package (or the next test proves
    nothing)."""
    g = import_graph()
    assert "numsim.formats" in g["numsim.codec"]  # from . import formats as _formats
    assert "numsim._kernels.codec" in g["numsim.codec"]  # from ._kernels import codec as _k
    assert "numsim.policies" in g["numsim.codec"]  # from .policies import ...
    assert "numsim.golden" in g["numsim.cli"]  # deferred: from . import golden inside a function
    assert "numsim.datapath" in g["numsim"]  # from . import datapath
    assert "numsim.datapath.unit" not in g["numsim.reference.dot"]  # only under TYPE_CHECKING


def test_cycle_finder_finds_a_cycle() -> None:
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    found = cycles(import_graph())
    assert not found, "import cycles inside numsim: " + "; ".join(" <-> ".join(c) for c in found)


# Kernel integer constants and the enums they stand for, pair by pair (spelled out here, so that
# a renumbered enum member or a kernel constant set by hand fails this test).
KERNEL_CONSTANTS = [
    ("core", "NEAREST_EVEN", RoundMode.nearest_even),
    ("core", "NEAREST_AWAY", RoundMode.nearest_away),
    ("core", "TOWARD_ZERO", RoundMode.toward_zero),
    ("core", "TOWARD_POSITIVE", RoundMode.toward_positive),
    ("core", "TOWARD_NEGATIVE", RoundMode.toward_negative),
    ("core", "STOCHASTIC", RoundMode.stochastic),
    ("core", "SATURATE", Overflow.saturate),
    ("core", "NONSATURATE", Overflow.nonsaturate),
    ("core", "NAN_RAISE", NanPolicy.raise_error),
    ("core", "NAN_ZERO", NanPolicy.zero),
    ("core", "NAN_ZERO_INVERTED", NanPolicy.zero_sign_inverted),
    ("core", "SP_IEEE", Specials.ieee),
    ("core", "SP_FN", Specials.fn),
    ("core", "SP_FNUZ", Specials.fnuz),
    ("core", "SP_FINITE", Specials.finite),
    ("core", "K_ZERO", CodeClass.zero),
    ("core", "K_FINITE", CodeClass.finite),
    ("core", "K_INF", CodeClass.inf),
    ("core", "K_NAN", CodeClass.nan),
    ("block", "FLOOR", ScaleRule.floor),
    ("block", "CEIL", ScaleRule.ceil),
    ("block", "EVEN", ScaleRule.even),
    ("block", "FLOOR_LOG2F", ScaleRule.floor_log2f),
    ("dotbase", "ACC_CHAIN", AccKind.chain),
    ("dotbase", "ACC_FLOAT", AccKind.float),
    ("dotbase", "ACC_EXACT", AccKind.exact),
    ("dotbase", "ACC_INT", AccKind.int),
]


def test_kernel_constants_are_the_enum_values() -> None:
    import importlib

    for module, name, member in KERNEL_CONSTANTS:
        value = getattr(importlib.import_module(f"numsim._kernels.{module}"), name)
        assert type(value) is int and value == member.value, (module, name, member)
    # every member of these enums reaches the kernels under some name
    listed = {m for _, _, m in KERNEL_CONSTANTS}
    for enum in (RoundMode, Overflow, NanPolicy, Specials, CodeClass, ScaleRule, AccKind):
        assert set(enum) <= listed, enum


def test_accumulator_kinds_are_the_enum_names() -> None:
    """The Accumulator's kind strings and the kernels' kind integers come from one enum."""
    from numsim.datapath import Accumulator
    from numsim.datapath.unit import ACC_KINDS

    assert ACC_KINDS == ("chain", "float", "exact", "int")
    assert [AccKind[k].value for k in ACC_KINDS] == [0, 1, 2, 3]
    assert Accumulator.integer(16).kind == "int" and Accumulator.exact().kind == "exact"


def test_kernel_kinds_mean_the_code_classes() -> None:
    """The kernels' operand kinds (from the float64 value) agree with the descriptor's classes."""
    import numpy as np

    from numsim import formats as F
    from numsim._kernels.operands import split_operands
    from numsim._tables import code_classes, float64_values

    for name in ("fp8_e4m3", "fp8_e5m2", "fp8_e4m3fnuz", "fp6_e2m3", "bf16"):
        fmt = F.get(name)
        values = np.ascontiguousarray(float64_values(fmt))
        _, _, kinds = split_operands(values.view(np.int64), fmt.man_bits, fmt.emin, False)
        np.testing.assert_array_equal(kinds, code_classes(fmt), err_msg=name)


if __name__ == "__main__":
    for comp in cycles(import_graph()):
        print(" <-> ".join(comp))
    sys.exit(0)
