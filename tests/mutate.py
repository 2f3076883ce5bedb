"""A small mutation tester: does the suite notice when a rule is broken?

    python -m tests.mutate reviewflow/sources/status.py tests/sources [--only FUNC,FUNC] [--list]

Each mutant changes one thing in the module (a comparison flipped, ``and``/``or`` swapped, a
``not`` dropped, an ``if`` negated, a call statement or a ``raise`` removed, a constant
True/False flipped), writes it over the file, runs the given tests (``-x -q``) and restores the
file. A mutant the tests do not kill is a rule no test proves; the report lists them with
their line. Run it on a clean working tree: the file is restored from memory afterwards, even
on Ctrl-C.
"""
from __future__ import annotations

import argparse
import ast
import copy
import subprocess
import sys
from pathlib import Path

FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE,
        ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def _functions(tree: ast.Module, only: set[str] | None):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (not only or node.name in only):
            yield node


def mutation_points(tree: ast.Module, only: set[str] | None) -> list[tuple[str, int, object]]:
    """(description, line, node) for every place a mutant can be made, inside the chosen functions."""
    points = []
    for fn in _functions(tree, only):
        for node in ast.walk(fn):
            if isinstance(node, ast.Compare) and type(node.ops[0]) in FLIP:
                points.append((f"flip {type(node.ops[0]).__name__}", node.lineno, node))
            elif isinstance(node, ast.BoolOp):
                points.append((f"swap {type(node.op).__name__}", node.lineno, node))
            elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
                points.append(("drop not", node.lineno, node))
            elif isinstance(node, ast.If | ast.IfExp):
                points.append(("negate if", node.lineno, node))
            elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
                points.append(("remove call", node.lineno, node))
            elif isinstance(node, ast.Raise):
                points.append(("remove raise", node.lineno, node))
            elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
                points.append(("flip constant", node.lineno, node))
    return points


class _Mutate(ast.NodeTransformer):
    def __init__(self, target) -> None:
        self.target = target

    def generic_visit(self, node):
        node = super().generic_visit(node)
        if node is not self.target:
            return node
        if isinstance(node, ast.Compare):
            node.ops = [FLIP[type(node.ops[0])](), *node.ops[1:]]
        elif isinstance(node, ast.BoolOp):
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, ast.UnaryOp):
            return node.operand
        elif isinstance(node, ast.If | ast.IfExp):
            node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        elif isinstance(node, ast.Expr | ast.Raise):
            return ast.Pass()
        elif isinstance(node, ast.Constant):
            node.value = not node.value
        return node


def mutant(tree: ast.Module, index: int, only: set[str] | None) -> str:
    clone = copy.deepcopy(tree)
    target = mutation_points(clone, only)[index][2]
    return ast.unparse(ast.fix_missing_locations(_Mutate(target).visit(clone)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--only", help="comma-separated function names to mutate")
    parser.add_argument("--list", action="store_true", help="list the mutation points and stop")
    args = parser.parse_args(argv)
    path = Path(args.module)
    original = path.read_text()
    tree = ast.parse(original)
    only = set(args.only.split(",")) if args.only else None
    points = mutation_points(tree, only)
    if args.list:
        for i, (what, line, _) in enumerate(points):
            print(f"{i:3} line {line}: {what}")
        return 0
    survived = []
    try:
        for i, (what, line, _) in enumerate(points):
            path.write_text(mutant(tree, i, only))
            run = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                  "-p", "no:logging", *args.tests], capture_output=True, text=True)
            killed = run.returncode != 0
            print(f"{'killed ' if killed else 'SURVIVED'} line {line}: {what}", flush=True)
            if not killed:
                survived.append((line, what))
    finally:
        path.write_text(original)
    print(f"{len(points) - len(survived)} of {len(points)} mutants killed")
    for line, what in survived:
        print(f"  survived: {path}:{line} {what}")
    return 1 if survived else 0


if __name__ == "__main__":
    raise SystemExit(main())
