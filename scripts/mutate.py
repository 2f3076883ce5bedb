"""Test strength by mutation: change one thing in a module at a time, run its tests, list what survives.

    python scripts/mutate.py reviewflow/public/store.py [--only-lines A-B] -- tests/public tests/publishing

Each mutant flips a comparison (>= to >, == to !=, in to not in, is to is not), swaps and/or, drops a
``not``, negates an ``if``, flips a boolean constant, adds one to an integer constant or makes a ``return``
return None; then pytest runs the given tests with ``-x``. A mutant the tests pass is a rule no test
notices. The file is rewritten in place (without its comments) and restored at the end, also on Ctrl-C,
and on SIGTERM; still, run it in a checkout of its own (``git worktree add --detach``) so that nothing
commits a mutant by accident.
"""
from __future__ import annotations

import ast
import copy
import signal
import subprocess
import sys
import time
from pathlib import Path

SWAP = {ast.GtE: ast.Gt, ast.Gt: ast.GtE, ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
        ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def mutants(tree):
    """Yield (lineno, description, mutated tree)."""
    nodes = list(ast.walk(tree))
    for idx, node in enumerate(nodes):
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in SWAP:
                    yield node.lineno, f"{type(op).__name__}->{SWAP[type(op)].__name__}", (idx, "cmp", i)
        elif isinstance(node, ast.BoolOp):
            yield node.lineno, f"{type(node.op).__name__} swapped", (idx, "bool", None)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield node.lineno, "not removed", (idx, "not", None)
        elif isinstance(node, ast.If):
            yield node.lineno, "if-condition negated", (idx, "if", None)
        elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
            yield node.lineno, f"{node.value} flipped", (idx, "boolconst", None)
        elif isinstance(node, ast.Constant) and type(node.value) is int and node.value not in (0, 1):
            yield node.lineno, f"{node.value}->+1", (idx, "int", None)
        elif isinstance(node, ast.Return) and node.value is not None and not (
                isinstance(node.value, ast.Constant) and node.value.value is None):
            yield node.lineno, "return None", (idx, "ret", None)


def apply(tree, how):
    tree = copy.deepcopy(tree)
    idx, kind, i = how
    node = list(ast.walk(tree))[idx]
    if kind == "cmp":
        node.ops[i] = SWAP[type(node.ops[i])]()
    elif kind == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "not":
        node._unwrap = True

        class Unwrap(ast.NodeTransformer):
            def visit_UnaryOp(self, n):
                self.generic_visit(n)
                return n.operand if getattr(n, "_unwrap", False) else n

        tree = Unwrap().visit(tree)
    elif kind == "if":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
    elif kind == "boolconst":
        node.value = not node.value
    elif kind == "int":
        node.value += 1
    elif kind == "ret":
        node.value = ast.Constant(None)
    return ast.fix_missing_locations(tree)


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    args = sys.argv[1:]
    path = args[0]
    lines = None
    if "--only-lines" in args:
        a, b = args[args.index("--only-lines") + 1].split("-")
        lines = (int(a), int(b))
    cmd = args[args.index("--") + 1:]
    target = Path(path)
    source = target.read_text()
    tree = ast.parse(source)
    found = [m for m in mutants(tree) if lines is None or lines[0] <= m[0] <= lines[1]]
    print(f"{len(found)} mutants in {path}", flush=True)
    survivors = []
    try:
        for n, (lineno, desc, how) in enumerate(found, 1):
            mutated = apply(tree, how)
            target.write_text(ast.unparse(mutated))
            started = time.time()
            try:
                rc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *cmd],
                                    capture_output=True, timeout=600).returncode
            except subprocess.TimeoutExpired:
                rc = -1
            verdict = "killed" if rc != 0 else "SURVIVED"
            line = source.splitlines()[lineno - 1].strip()
            print(f"[{n}/{len(found)}] {verdict:8} {path}:{lineno} {desc}: {line[:90]} ({time.time() - started:.0f}s)",
                  flush=True)
            if rc == 0:
                survivors.append((lineno, desc, line))
    finally:
        target.write_text(source)
    print(f"\n{len(survivors)} survived of {len(found)}")
    for lineno, desc, line in survivors:
        print(f"  {path}:{lineno} {desc}: {line[:100]}")


if __name__ == "__main__":
    main()
