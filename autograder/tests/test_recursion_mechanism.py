"""Unit 05, exercise 1: topological_order must be iterative, and no route around that may pass.

A recursive sort passes the deep chains once the recursion limit is raised (and, for recursion through C slots
such as `p[seen]`, once it runs in a thread with a large stack). The probe process is the student's, so the
grader decides from the source (`grading.mechanism.rules.iterative_engine`, named by exercise 1's hidden checks):

- rule 1: nothing touches the recursion limit or the stack size, by name, by string, or by a dynamic route
  (getattr with a computed name, vars, __dict__, __import__, importlib, ctypes, exec/eval/compile, ...);
- rule 2: no recursion is reachable from topological_order, however the function reaches itself (passed to
  itself, stored in a container, returned by a call, or through a dunder method Python calls implicitly).

The bypasses run out of kernel (`integrity.check_many`, unsandboxed, one process) and really compute the right
numbers, so only the source check can fail them; each passed the check before rule 1 and rule 2 existed. The
correct variants must pass both out of kernel and in the static check alone.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from calcml import checks
from grading import integrity, manifest, submissions

# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = pytest.mark.xdist_group("recursion_mechanism")

UNIT = "05_autograd"
CORE = "05_autograd-value_core"
REDTEAM = Path("/tmp/redteam")


def iterative_sort(code) -> None:
    """Exercise 1's mechanism check, as its source declares it (`rules.iterative_engine`)."""
    integrity.load_spec(UNIT)[CORE].mechanism(code)


# ------------------------------------------------------------------------------------------------ the red team's code

REDTEAM_V1 = '''
def topological_order(self):
    """recursive, on purpose"""
    import sys
    getattr(sys, "setrecursion" "limit")(200000)
    order, seen = [], set()
    def walk(v, again):
        if id(v) in seen:
            return
        seen.add(id(v))
        for p in v._prev:
            again(p, again)          # recursion, but walk never names itself
        order.append(v)
    walk(self, walk)
    return order
'''

REDTEAM_V2 = '''
def __getitem__(self, seen):
    if id(self) in seen:
        return []
    seen.add(id(self))
    out = []
    for p in self._prev:
        out += p[seen]
    out.append(self)
    return out

def topological_order(self):
    import sys, threading
    getattr(sys, "setrecursion" "limit")(10 ** 6)
    box = []
    threading.stack_size(1 << 29)
    worker = threading.Thread(target=lambda: box.append(self[set()]))
    worker.start()
    worker.join()
    threading.stack_size(0)
    return box[0]
'''


def _redteam(name: str, fallback: str) -> str:
    """The RECURSIVE source of a red-team script (module-level functions), or the copy above if it is gone."""
    path = REDTEAM / name
    if path.exists():
        text = path.read_text()
        start = text.index("RECURSIVE = '''") + len("RECURSIVE = '''")
        return textwrap.dedent(text[start:text.index("'''", start)])
    return fallback


def _attached(source: str, *names: str) -> str:
    return source + "".join(f"\nValue.{name} = {name}\n" for name in names)


# Raising the limit inside topological_order (the driver sets 1000 around backward()), by routes the old text
# check ("recursionlimit" in the cell's text) does not see.
RAISE = {
    "concatenation": 'getattr(sys, "setrecursion" + "limit")(10**6)',
    "join": 'getattr(sys, "".join(["setrecursion", "limit"]))(10**6)',
    "reversed": 'getattr(sys, "timilnoisrucertes"[::-1])(10**6)',
    "vars": 'vars(sys)["setrecursion" + "limit"](10**6)',
    "dict": 'sys.__dict__["setrecursion" + "limit"](10**6)',
    "import": 'getattr(__import__("s" + "ys"), "".join(map(chr, [115, 101, 116, 114, 101, 99, 117, 114, 115, 105, '
              '111, 110, 108, 105, 109, 105, 116])))(10**6)',
    "importlib": 'getattr(__import__("importlib").import_module("sys"), "setrecursion" + "limit")(10**6)',
    "exec": 'exec("import sys as _s; _s.setrecursion" + "limit(10**6)")',
    "ctypes": 'import ctypes; getattr(ctypes.pythonapi, "Py_SetRecursion" + "Limit")(10**6)',
}

IN_A_THREAD = '''
def _in_a_big_thread(action):
    import threading
    box = []
    threading.stack_size(1 << 29)
    worker = threading.Thread(target=lambda: box.append(action()))
    worker.start()
    worker.join()
    threading.stack_size(0)
    return box[0]
'''


def _sort(raise_limit: str, body: str, *, thread: bool = False) -> str:
    """A recursive topological_order: `body` computes `order` (with `walk` or the dunders), after the limit is
    raised; in a 512 MiB thread when the recursion goes through C slots."""
    run = "_in_a_big_thread(lambda: _run(self))" if thread else "_run(self)"
    return ((IN_A_THREAD if thread else "") + "import sys\n\n\ndef _run(self):\n"
            + textwrap.indent(textwrap.dedent(body).strip() + "\n", "    ")
            + f"\n\ndef topological_order(self):\n    {raise_limit}\n    return {run}\n\n\n"
            + "Value.topological_order = topological_order\n")


# Recursion that the old name-based call graph does not see.
PASSED_TO_ITSELF = '''
order, seen = [], set()
def walk(v, again):
    if id(v) not in seen:
        seen.add(id(v))
        for p in v._prev:
            again(p, again)
        order.append(v)
walk(self, walk)
return order
'''
IN_A_LIST = '''
order, seen, table = [], set(), [None]
def walk(v):
    if id(v) not in seen:
        seen.add(id(v))
        for p in v._prev:
            table[0](p)
        order.append(v)
table[0] = walk
walk(self)
return order
'''
CALL_OF_A_CALL = '''
order, seen, kept = [], set(), [None]
def again():
    return kept[0]
def walk(v):
    if id(v) not in seen:
        seen.add(id(v))
        for p in v._prev:
            again()(p)
        order.append(v)
kept[0] = walk
walk(self)
return order
'''
PARTIAL_IN_A_DICT = '''
import functools
order, seen, table = [], set(), {}
def walk(v, table):
    if id(v) not in seen:
        seen.add(id(v))
        for p in v._prev:
            table["go"](p)
        order.append(v)
table["go"] = functools.partial(walk, table=table)
walk(self, table)
return order
'''
KEYWORD = '''
order, seen = [], set()
def walk(v, step=None):
    if id(v) not in seen:
        seen.add(id(v))
        for p in v._prev:
            step(p, step=step)
        order.append(v)
walk(self, step=walk)
return order
'''
GETITEM = '''
return self[set()]
'''
ITER = '''
return list(_Walk(self, set()))
'''
ITER_CLASS = '''
class _Walk:
    def __init__(self, v, seen):
        self.v, self.seen = v, seen
    def __iter__(self):
        out = []
        if id(self.v) not in self.seen:
            self.seen.add(id(self.v))
            for p in self.v._prev:
                out.extend(_Walk(p, self.seen))
            out.append(self.v)
        return iter(out)
'''
CALL = '''
return _Walker(set())(self)
'''
CALL_CLASS = '''
class _Walker:
    def __init__(self, seen):
        self.seen = seen
    def __call__(self, v):
        if id(v) in self.seen:
            return []
        self.seen.add(id(v))
        out = []
        for p in v._prev:
            out += self(p)
        return out + [v]
'''
GETITEM_METHOD = '''
def __getitem__(self, seen):
    if id(self) in seen:
        return []
    seen.add(id(self))
    out = []
    for p in self._prev:
        out += p[seen]
    out.append(self)
    return out
Value.__getitem__ = __getitem__
'''

BYPASSES = {
    # The red team's two scripts, their RECURSIVE code attached to Value.
    "redteam_v1_passed_to_itself": _attached(_redteam("recursive_backward.py", REDTEAM_V1), "topological_order"),
    "redteam_v2_getitem_in_a_thread": _attached(_redteam("recursive_backward_v2.py", REDTEAM_V2), "__getitem__",
                                                "topological_order"),
    "concatenated_name_passed_to_itself": _sort(RAISE["concatenation"], PASSED_TO_ITSELF),
    "joined_name_walk_in_a_list": _sort(RAISE["join"], IN_A_LIST),
    "reversed_name_call_of_a_call": _sort(RAISE["reversed"], CALL_OF_A_CALL),
    "vars_partial_in_a_dict": _sort(RAISE["vars"], PARTIAL_IN_A_DICT),
    "dunder_dict_keyword_argument": _sort(RAISE["dict"], KEYWORD),
    "dunder_import_chr_getitem_in_a_thread": GETITEM_METHOD + _sort(RAISE["import"], GETITEM, thread=True),
    "importlib_iter_in_a_thread": ITER_CLASS + _sort(RAISE["importlib"], ITER, thread=True),
    "exec_call_dunder_in_a_thread": CALL_CLASS + _sort(RAISE["exec"], CALL, thread=True),
    "ctypes_passed_to_itself": _sort(RAISE["ctypes"], PASSED_TO_ITSELF),
}

# ------------------------------------------------------------------------------------------------ correct variants

DEQUE = '''
def topological_order(self):
    from collections import deque
    order, visited, stack = [], set(), deque([(self, False)])
    while stack:
        v, placed = stack.pop()
        if placed:
            order.append(v)
        elif id(v) not in visited:
            visited.add(id(v))
            stack.append((v, True))
            stack.extend((child, False) for child in v._prev)
    return order
'''
CHILD_INDEX = '''
def topological_order(self):
    order, visited, stack = [], {id(self)}, [(self, 0)]
    while stack:
        v, i = stack[-1]
        if i < len(v._prev):
            stack[-1] = (v, i + 1)
            child = v._prev[i]
            if id(child) not in visited:
                visited.add(id(child))
                stack.append((child, 0))
        else:
            stack.pop()
            order.append(v)
    return order
'''
HELPER = '''
def _postorder(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        v, placed = stack.pop()
        if placed:
            order.append(v)
            continue
        if v in visited:
            continue
        visited.add(v)
        stack.append((v, True))
        for child in sorted(v._prev, key=lambda c: c.data):
            stack.append((child, False))
    return order

def topological_order(self):
    return _postorder(self)
'''
GENERATOR = '''
def _walk(self):
    visited, stack = set(), [(self, False)]
    while stack:
        v, placed = stack.pop()
        if placed:
            yield v
        elif id(v) not in visited:
            visited.add(id(v))
            stack.append((v, True))
            stack.extend((child, False) for child in sorted(v._prev, key=id))
Value._walk = _walk

def topological_order(self):
    return list(self._walk())
'''
KAHN = '''
def topological_order(self):
    nodes, stack, seen = [], [self], {id(self)}
    while stack:
        v = stack.pop()
        nodes.append(v)
        for child in v._prev:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    users = {id(v): 0 for v in nodes}
    for v in nodes:
        for child_id in {id(c) for c in v._prev}:
            users[child_id] += 1
    ready, order = [self], []
    while ready:
        v = ready.pop()
        order.append(v)
        for child in {id(c): c for c in v._prev}.values():
            users[id(child)] -= 1
            if users[id(child)] == 0:
                ready.append(child)
    return order[::-1]
'''

PUSH_ALIAS = '''
def topological_order(self):
    order, visited, stack = [], set(), [(self, False)]
    push = stack.append
    while stack:
        v, placed = stack.pop()
        if placed:
            order.append(v)
        elif id(v) not in visited:
            visited.add(id(v))
            push((v, True))
            for child in v._prev:
                push((child, False))
    return order
'''

CORRECT = {
    "deque": _attached(DEQUE, "topological_order"),
    "while_loop_with_child_index": _attached(CHILD_INDEX, "topological_order"),
    "helper_function_visited_values_sorted_children": _attached(HELPER, "topological_order"),
    "generator_method": _attached(GENERATOR, "topological_order"),
    "kahn_in_degree_counts": _attached(KAHN, "topological_order"),
    "push_bound_to_a_variable": _attached(PUSH_ALIAS, "topological_order"),
}


# ------------------------------------------------------------------------------------------------------ out of kernel

@pytest.fixture(scope="session")
def verdicts(tmp_path_factory):
    """Every bypass and correct variant as a prelude of the solved notebook, in one unsandboxed probe process."""
    path = submissions.write(submissions.solved(manifest.unit(UNIT)),
                             tmp_path_factory.mktemp("recursion") / "nb.ipynb")
    trials = [{"key": f"bypass:{name}", "grade_id": CORE, "student": "mallory", "prelude": prelude}
              for name, prelude in BYPASSES.items()]
    trials += [{"key": f"correct:{name}", "grade_id": CORE, "student": "alice", "prelude": prelude}
               for name, prelude in CORRECT.items()]
    trials.append({"key": "correct:solution", "grade_id": CORE, "student": "alice"})
    result, _ = integrity.check_many(UNIT, path, trials, sandboxed=False)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BYPASSES))
def test_a_recursive_sort_that_computes_the_right_numbers_still_fails(name, verdicts) -> None:
    verdict = verdicts[f"bypass:{name}"]
    assert not verdict.passed, f"{name}: the recursive sort passed the out-of-kernel check"
    assert "The contract: topological_order must not recurse" in verdict.message


@pytest.mark.slow
@pytest.mark.parametrize("name", [*CORRECT, "solution"])
def test_an_iterative_sort_passes(name, verdicts) -> None:
    verdict = verdicts[f"correct:{name}"]
    assert verdict.passed, verdict.message


# ------------------------------------------------------------------------------------------- the static check alone

def _verdict(*extra: str) -> str:
    solutions = submissions.solution_cells(manifest.unit(UNIT))
    code = SimpleNamespace(cells=(*solutions.values(), *extra), solutions=solutions)
    try:
        iterative_sort(code)
    except checks.CheckFailure as failure:
        return str(failure)
    return ""


RECURSION_ONLY = {  # rule 2 on its own: the recursion, without any change of the limit
    "passed_to_itself": "def topological_order(self):\n" + textwrap.indent(PASSED_TO_ITSELF, "    "),
    "in_a_list": "def topological_order(self):\n" + textwrap.indent(IN_A_LIST, "    "),
    "call_of_a_call": "def topological_order(self):\n" + textwrap.indent(CALL_OF_A_CALL, "    "),
    "partial_in_a_dict": "def topological_order(self):\n" + textwrap.indent(PARTIAL_IN_A_DICT, "    "),
    "keyword_argument": "def topological_order(self):\n" + textwrap.indent(KEYWORD, "    "),
    "getitem": GETITEM_METHOD + "def topological_order(self):\n" + textwrap.indent(GETITEM, "    "),
    "iter": ITER_CLASS + "def topological_order(self):\n" + textwrap.indent(ITER, "    "),
    "call_dunder": CALL_CLASS + "def topological_order(self):\n" + textwrap.indent(CALL, "    "),
    "contains": textwrap.dedent('''
        def __contains__(self, seen):
            if id(self) not in seen:
                seen.add(id(self))
                for p in self._prev:
                    seen in p
            return False
        Value.__contains__ = __contains__
        def topological_order(self):
            seen = set()
            seen in self
            return []
    '''),
    "matmul": textwrap.dedent('''
        def __matmul__(self, seen):
            if id(self) not in seen:
                seen.add(id(self))
                return [q for p in self._prev for q in p @ seen] + [self]
            return []
        Value.__matmul__ = __matmul__
        def topological_order(self):
            return self @ set()
    '''),
    "y_combinator": textwrap.dedent('''
        def topological_order(self):
            seen = set()
            walk = (lambda f: lambda v: f(f, v))(
                lambda f, v: [] if id(v) in seen or seen.add(id(v)) else [q for p in v._prev for q in f(f, p)] + [v])
            return walk(self)
    '''),
    "constructor": textwrap.dedent('''
        class _Visit:
            def __init__(self, v, seen, order):
                if id(v) not in seen:
                    seen.add(id(v))
                    for p in v._prev:
                        _Visit(p, seen, order)
                    order.append(v)
        def topological_order(self):
            order = []
            _Visit(self, set(), order)
            return order
    '''),
    "property": textwrap.dedent('''
        class _Node:
            def __init__(self, v, seen):
                self.v, self.seen = v, seen
            @property
            def below(self):
                if id(self.v) in self.seen:
                    return []
                self.seen.add(id(self.v))
                return [q for p in self.v._prev for q in _Node(p, self.seen).below] + [self.v]
        def topological_order(self):
            return _Node(self, set()).below
    '''),
    "hash_in_a_set_display": textwrap.dedent('''
        def __hash__(self):
            for p in self._prev:
                {p}
            return id(self)
        Value.__hash__ = __hash__
        def topological_order(self):
            {self}
            return []
    '''),
    "stored_on_an_object": textwrap.dedent('''
        class _Box:
            def __init__(self, step):
                self.step = step
        def topological_order(self):
            order, seen = [], set()
            def walk(v):
                if id(v) not in seen:
                    seen.add(id(v))
                    for p in v._prev:
                        box.step(p)
                    order.append(v)
            box = _Box(walk)
            walk(self)
            return order
    '''),
}

FORBIDDEN_ONLY = {  # rule 1 on its own, beside the honest solution
    "implicit_concatenation": 'import sys\ngetattr(sys, "setrecursion" "limit")(10**5)\n',
    **{name: f"import sys\n{line}\n" for name, line in RAISE.items()},
    "stack_size": "import threading\nthreading.stack_size(1 << 29)\n",
    "sys_passed_on": "import sys\nmodule = sys\n",
    "sys_modules": "import sys\nhere = sys.modules\n",
    "eval": 'eval("1 + 1")\n',
    "compile": 'code = compile("x = 1", "<s>", "exec")\n',
    "getattr_computed": 'name = "a" + "b"\nvalue = getattr(Value, name, None)\n',
    "getattribute": 'value = object.__getattribute__(Value, "topological_order")\n',
    "gc": "import gc\nobjects = gc.get_objects()\n",  # `import gc` alone passes in a scratch cell
    "inspect": "import inspect\ncaller = inspect.currentframe().f_back\n",  # `import inspect` alone passes
    "pickle": "import pickle\n",
    "os_system": 'import os\nos.system("true")\n',
    "star_import_of_sys": "from sys import *\n",
}


@pytest.mark.parametrize("name", list(RECURSION_ONLY))
def test_recursion_reachable_from_topological_order_fails(name) -> None:
    source = textwrap.dedent(RECURSION_ONLY[name]) + "\nValue.topological_order = topological_order\n"
    message = _verdict(source)
    assert "recurses" in message and "The contract" in message, message


@pytest.mark.parametrize("name", list(FORBIDDEN_ONLY))
def test_a_route_to_the_recursion_limit_fails(name) -> None:
    message = _verdict(FORBIDDEN_ONLY[name])
    assert message and "The contract" in message, name


def test_the_limit_named_in_a_string_is_the_limit() -> None:
    """The parser joins implicit concatenation into one constant; the check folds `+`, join and [::-1] too."""
    for line in RAISE["concatenation"], RAISE["join"], RAISE["reversed"], 'x = "setrecursion" "limit"':
        assert "recursion limit" in _verdict(f"import sys\n{line}\n"), line


@pytest.mark.parametrize("name", list(BYPASSES))
def test_every_bypass_fails_the_static_check(name) -> None:
    assert "The contract" in _verdict(BYPASSES[name])


@pytest.mark.parametrize("name", list(CORRECT))
def test_a_correct_variant_passes_the_static_check(name) -> None:
    assert _verdict(CORRECT[name]) == ""


def test_correct_variants_written_in_the_class_pass() -> None:
    """The variants as the student writes them: in the solution cell, in place of the method."""
    solutions = submissions.solution_cells(manifest.unit(UNIT))
    core = solutions[f"{CORE}-solution"]
    start, end = core.index("    def topological_order(self):"), core.index("    def backward(self):")
    for name, variant in {"deque": DEQUE, "child_index": CHILD_INDEX, "kahn": KAHN,
                          "generator": GENERATOR.replace("Value._walk = _walk\n", ""),
                          "helper": HELPER}.items():
        method = textwrap.indent(textwrap.dedent(variant).strip("\n"), "    ")
        cells = [core[:start] + method + "\n\n" + core[end:], *list(solutions.values())[1:]]
        code = SimpleNamespace(cells=tuple(cells), solutions=solutions)
        try:
            iterative_sort(code)
        except checks.CheckFailure as failure:
            pytest.fail(f"{name}: {failure}")


def test_backward_calling_every_closure_is_not_recursion() -> None:
    """The red team's point 3: every node's `_backward` has the same name; only topological_order is a root."""
    assert _verdict() == ""
    assert _verdict("def backward(self):\n    for v in reversed(self.topological_order()):\n        v._backward()\n"
                    "Value.backward = backward\n") == ""


@pytest.mark.parametrize("extra", [
    "import psutil\n",
    "from hypothesis.internal.conjecture.junkdrawer import StackframeLimiter\n",
    "import resource\n",
    "import timeit\ntimeit.timeit('pass', number=1)\n",
    "import threading\nthreading.stack_size(1 << 29)\n",
    "from threading import stack_size as grow\ngrow(1 << 29)\n",
    "Value.topological_order = list\n",
])
def test_libraries_that_set_the_limit_and_code_from_text_fail_rule_1(extra) -> None:
    message = _verdict(extra)
    assert message and "The contract" in message, extra


def test_recursion_through_numpy_dispatch_to_a_method_fails() -> None:
    solutions = submissions.solution_cells(manifest.unit(UNIT))
    core = solutions["05_autograd-value_core-solution"]
    start, end = core.index("    def topological_order(self):"), core.index("    def backward(self):")
    topo = ("    def rint(self):\n        order, seen = _WALKS[-1]\n        if id(self) not in seen:\n"
            "            seen.add(id(self))\n            for child in self._prev:\n                np.rint(child)\n"
            "            order.append(self)\n        return 0.0\n\n    def topological_order(self):\n"
            "        _WALKS.append(([], set()))\n        np.rint(self)\n        return _WALKS.pop()[0]\n\n")
    source = "import numpy as np\n_WALKS = []\n" + core[:start] + topo + core[end:]
    changed = {**solutions, "05_autograd-value_core-solution": source}
    code = SimpleNamespace(cells=tuple(changed.values()), solutions=changed)
    with pytest.raises(checks.CheckFailure, match="recurses"):
        iterative_sort(code)
