"""The program that runs INSIDE the sandbox for the out-of-kernel integrity checks (`grading.integrity`).

It needs only the standard library and `calcml.probes.plain` (the one definition of plain data, which the hidden
checks in the kernel use too; it is imported before any student code runs): the sandbox does not see
`autograder/`, so `grading.integrity` passes this file's source to `python -I -c` and the request on stdin.

Request (one JSON object on stdin, read to the end before any student code runs)::

    {"nonce": "<random hex>",            # prefixes every line this program writes to the result channel
     "cells": [{"name": "cell 3", "source": "<source>"},   # the notebook's code, in order (never its tests),
               {"probe": "<grade_id>"}, ...],              # and where each test cell stood
     "cell_timeout": 60,                  # seconds per cell and per probe driver (SIGALRM)
     "max_result_chars": 1000000,         # the largest JSON text one probe may return
     "probes": [{"grade_id": "...", "driver": "<python source>", "inputs": <JSON>,
                 "key": "...",                  # optional: the label of the result (default: the grade_id)
                 "prelude": "<source>"}, ...]}  # optional: run before the driver, in the same child (the
                                                # tests use it to try many known-wrong answers in one process)

What it does:

1. Keeps a private copy of its stdout as the result channel, then points file descriptors 1 and 2 at
   /dev/null: nothing the student's code prints can reach the grader, and a huge output costs nothing.
2. Runs each cell with `exec` in one namespace, as a kernel would, with `MPLBACKEND=Agg`, `CALCML_STATIC=1`
   (set by the sandbox), `display()` a no-op, and `get_ipython()` a stub that accepts and ignores everything
   (so a cell that registers an IPython hook or input transformer does nothing here). A cell that raises,
   exits (`sys.exit`, and `os._exit`, which here raises SystemExit) or runs past `cell_timeout` is recorded and
   the next cell runs, as nbgrader does. A process the student's code forks stops at the end of its cell.
3. Where a test cell stood, runs the probes of that exercise (any left over run at the end), so each probe
   sees the state the test cell saw in the kernel. Each probe's `driver` runs in a forked child process (a
   crash, an exit or a change of state stays with that probe), in a copy of the namespace with the variable
   `inputs` bound to the probe's JSON inputs, after `disarm_tools` made every function of the course's
   reference tools (calcml, sympy, mpmath, scipy, np.gradient) raise: an answer must do its own work. The driver
   must assign `result`; only plain data leaves: None,
   bools, ints, floats, strings, lists, dicts with string keys, NumPy numbers and numeric arrays. Any other
   object (one with an always-true `__eq__`, say) makes the probe fail here, before anything is compared.
4. Writes one line per event to the channel: `<nonce> <JSON>` with JSON
   `{"event": "cell", "name": "cell 3", "error": "...", "seconds": 0.1}` for a failing cell (or a slow one),
   `{"event": "probe", "key": ..., "result": ...}` or `{"event": "probe", "key": ..., "error": ...}`,
   and finally `{"event": "done"}`. Lines are flushed at once, so a crash keeps the results before it.

The grader trusts none of this: it parses the lines as plain JSON and compares the numbers itself.
"""

import builtins
import contextlib
import gc
import importlib.util
import json
import os
import select
import signal
import sys
import time

import numpy

from calcml import probes
from calcml.probes import driver_scope, plain  # shared with the hidden checks in the kernel

REAL_BUILTINS = dict(vars(builtins))  # before any student code runs: what the drivers' builtin names mean
# The course's reference tools, disarmed in each probe's child before its driver runs (see `disarm_tools`):
TOOL_PACKAGES = ("calcml", "sympy", "mpmath", "scipy", "jax", "torch", "autograd", "tensorflow")
KEPT_FILES = (probes.__file__,)  # what this program itself uses after the driver
_FUNCTION = type(lambda: None)
_get_objects, _unfreeze = gc.get_objects, gc.unfreeze  # before the student's code can replace them
_GRADIENT = getattr(numpy.gradient, "_implementation", numpy.gradient)  # a finite difference in numpy

SLOW_CELL = 2.0  # seconds: slower cells are reported
_exit = os._exit  # the real one: the student's cells get one that raises SystemExit instead
_fork = os.fork
_MAIN_PID = os.getpid()


def _tool_folders():
    folders = []
    for package in TOOL_PACKAGES:
        with contextlib.suppress(ImportError, ValueError, AttributeError):
            spec = importlib.util.find_spec(package)
            folders += [os.path.join(folder, "") for folder in (spec.submodule_search_locations or [])]
    return tuple(folders)


TOOL_FOLDERS = _tool_folders()
_RAISERS = {}


class ToolUsed(BaseException):
    """An answer called one of the course's reference tools (a BaseException: `except Exception` in the
    student's code does not hide it)."""


_TOOL_USED = ToolUsed("your answer called one of the course's reference tools (calcml, sympy, mpmath, scipy or "
                      "np.gradient): they check an answer, they cannot be the answer")


def _raiser(free):
    """The code of a function that raises ToolUsed, with `free` free variables (a function's code can only be
    replaced by code with as many). The exception is a constant of the code, not a name: the disarmed function
    keeps its module's globals, where no name is ours."""
    if free not in _RAISERS:
        names = [f"_v{i}" for i in range(free)]
        source = ("def outer():\n" + "".join(f"    {n} = None\n" for n in names)
                  + "    def tool(*args, **kwargs):\n" + "".join(f"        {n}\n" for n in names)
                  + "        raise 'ToolUsed'\n    return tool\n")
        scope = {}
        exec(compile(source, "<reference tool>", "exec"), scope)  # noqa: S102 -- our own constant text
        code = scope["outer"]().__code__
        _RAISERS[free] = code.replace(co_consts=tuple(_TOOL_USED if c == "ToolUsed" else c for c in code.co_consts))
    return _RAISERS[free]


def disarm_tools():
    """Make every function of the reference tools raise ToolUsed: each function object whose code lives in
    their folders (sympy, mpmath, scipy, calcml but this program's `calcml.probes`), the functions sympy's
    lambdify wrote, and numpy.gradient. The function objects themselves change, so every alias, container,
    closure or copy of a reference the student's code made before reaches the raising code; what the student
    compiled from the tools' source text is not theirs to run either (`exec` of computed text fails the
    mechanism rules)."""
    _unfreeze()
    for value in _get_objects():
        if type(value) is not _FUNCTION:
            continue
        filename = value.__code__.co_filename
        if (filename.startswith(TOOL_FOLDERS) and filename not in KEPT_FILES) or filename.startswith(
                "<lambdifygenerated") or value is _GRADIENT:
            with contextlib.suppress(ValueError, TypeError):
                value.__code__ = _raiser(len(value.__code__.co_freevars))


class ProbeTimeout(BaseException):
    """A cell or a driver ran past its time limit (a BaseException, so `except Exception` does not swallow it)."""


class _Anything:
    """What `get_ipython()` returns here: every attribute, call and item is accepted and ignored."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __getitem__(self, key):
        return self

    def __setitem__(self, key, value):
        pass

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return False


def _cell_exit(status=0):
    """os._exit as the student's cells see it: the cell stops, the process (and the next cells) go on."""
    raise SystemExit(status)


def describe(error):
    try:
        text = f"{type(error).__name__}: {error}"
    except BaseException:  # noqa: BLE001 -- a student's exception whose __str__ fails
        text = type(error).__name__
    return text if len(text) <= 600 else text[:600] + "..."


def transform_magics(source):
    """IPython syntax (%magics, !shell) as plain Python calling get_ipython(), or None if IPython is missing."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except Exception:
        return None
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return None


def alarm(seconds):
    """Raise ProbeTimeout in this process after `seconds`."""
    def on_alarm(signum, frame):
        raise ProbeTimeout(f"stopped after {seconds:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def run_probe(probe, namespace, timeout, max_chars):
    """Run one probe's driver in a forked child, so a crash, an exit or a mutation stays with that probe.

    The child sends its event (JSON) through a pipe; the parent enforces the time and size limits.
    """
    key = str(probe.get("key", probe["grade_id"]))
    read_end, write_end = os.pipe()
    for attempt in range(50):
        try:
            pid = _fork()
            break
        except OSError as error:  # the process limit, briefly reached by what the student's code forked
            if attempt == 49:
                os.close(read_end)
                os.close(write_end)
                return {"event": "probe", "key": key, "error": f"the probe could not start: {describe(error)}"}
            time.sleep(0.1)
    if pid == 0:  # the child
        child = os.getpid()
        os.close(read_end)
        try:
            event = drive(probe, key, namespace, timeout)
            data = json.dumps(event).encode("utf-8")
        except BaseException as error:  # noqa: BLE001
            data = json.dumps({"event": "probe", "key": key, "error": describe(error)}).encode("utf-8")
        try:
            if os.getpid() == child:  # not a process the student's code forked
                view = memoryview(data)
                while view:
                    view = view[os.write(write_end, view):]
        finally:
            _exit(0)
    os.close(write_end)
    chunks, size, problem = [], 0, ""
    deadline = time.monotonic() + timeout + 5
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            problem = f"TimeoutError: stopped after {timeout:g} s"
            break
        ready, _, _ = select.select([read_end], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > max_chars:
            problem = f"ValueError: the result is more than {max_chars} characters long"
            break
    os.close(read_end)
    if problem:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    if not problem:
        try:
            event = json.loads(b"".join(chunks).decode("utf-8"))
            if isinstance(event, dict) and event.get("key") == key:
                return event
        except ValueError:
            pass
        if os.WIFSIGNALED(status):
            problem = f"the process running your code was killed by signal {os.WTERMSIG(status)} (a crash?)"
        else:
            problem = f"the process running your code exited (status {os.waitstatus_to_exitcode(status)})"
    return {"event": "probe", "key": key, "error": problem}


def drive(probe, key, namespace, timeout):
    """The child's work: run the prelude (if any) and the driver with `inputs` bound; return its event."""
    start = time.monotonic()
    try:
        alarm(timeout)
        if probe.get("prelude"):
            exec(compile(str(probe["prelude"]), f"<prelude {key}>", "exec"), namespace)  # noqa: S102
        disarm_tools()
        local = driver_scope(namespace, probe["driver"], probe["inputs"], REAL_BUILTINS)
        local.pop("result", None)
        exec(compile(probe["driver"], f"<probe {key}>", "exec"), local)  # noqa: S102
        signal.setitimer(signal.ITIMER_REAL, 0)
        if "result" not in local:
            raise NameError("the probe driver set no result")
        result = plain(local["result"])
    except BaseException as error:  # noqa: BLE001
        signal.setitimer(signal.ITIMER_REAL, 0)
        return {"event": "probe", "key": key, "error": describe(error)}
    return {"event": "probe", "key": key, "result": result, "seconds": round(time.monotonic() - start, 3)}


# Cell magics whose body IPython runs in the user's namespace, as plain code would run: the body runs here too.
BODY_MAGICS = ("time", "capture", "prun")


def cell_body(source):
    """`source` without a leading `%%time`, `%%capture` or `%%prun` line (the kernel runs those bodies as code)."""
    stripped = source.lstrip()
    if stripped.startswith("%%"):
        first, _, body = stripped.partition("\n")
        if first[2:].split(" ", 1)[0].strip() in BODY_MAGICS:
            return body
    return source


def run_cell(name, source, namespace, timeout, emit):
    """Run one cell of the student's code in `namespace`; report an error or a slow cell."""
    source = cell_body(source)
    try:
        code = compile(source, f"<{name}>", "exec")
    except Exception as error:  # noqa: BLE001 -- SyntaxError, or RecursionError/MemoryError on deep nesting
        transformed = transform_magics(source) if isinstance(error, SyntaxError) else None
        try:
            code = compile(transformed, f"<{name}>", "exec") if transformed else None
        except Exception:  # noqa: BLE001
            code = None
        if code is None:
            emit({"event": "cell", "name": name, "error": describe(error)})
            return
    start = time.monotonic()
    try:
        alarm(timeout)
        exec(code, namespace)  # noqa: S102 -- the student's code, in the sandbox
        signal.setitimer(signal.ITIMER_REAL, 0)
        if time.monotonic() - start > SLOW_CELL:
            emit({"event": "cell", "name": name, "seconds": round(time.monotonic() - start, 2)})
    except BaseException as error:  # noqa: BLE001 -- SystemExit, timeouts, anything: the next cell runs
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            emit({"event": "cell", "name": name, "error": describe(error),
                  "seconds": round(time.monotonic() - start, 2)})
        except BaseException:  # noqa: BLE001
            pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if os.getpid() != _MAIN_PID:  # a process forked by the cell: it must not go on with the notebook
            _exit(0)
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            with contextlib.suppress(BaseException):
                pyplot.close("all")


def main():
    request = json.loads(sys.stdin.buffer.read().decode("utf-8"))
    nonce = str(request["nonce"])
    timeout = float(request.get("cell_timeout", 60))
    max_chars = int(request.get("max_result_chars", 1_000_000))
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8", closefd=True)
    dumps, write, flush = json.dumps, channel.write, channel.flush

    def emit(payload):
        if os.getpid() == _MAIN_PID:
            write(nonce + " " + dumps(payload) + "\n")
            flush()

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os._exit = _cell_exit
    with contextlib.suppress(ImportError, AttributeError):
        import posix
        posix._exit = _cell_exit
    stub = _Anything()
    # The student's `__main__` is a module of their own, as in a kernel: `import __main__` must not reach this
    # program's functions (disarm_tools among them).
    main_module = type(sys)("__main__")
    namespace = main_module.__dict__
    namespace.update({"__builtins__": builtins, "display": lambda *a, **k: None, "get_ipython": lambda: stub})
    sys.modules["__main__"] = main_module
    pending = list(request["probes"])
    for item in request["cells"]:
        if "probe" in item:
            due = [p for p in pending if p["grade_id"] == item["probe"]]
            pending = [p for p in pending if p["grade_id"] != item["probe"]]
            for probe in due:
                emit(run_probe(probe, namespace, timeout, max_chars))
        else:
            run_cell(str(item["name"]), str(item["source"]), namespace, timeout, emit)
    for probe in pending:
        emit(run_probe(probe, namespace, timeout, max_chars))
    emit({"event": "done"})
    channel.close()
    _exit(0)  # skip interpreter teardown: the student's atexit hooks and finalisers do not run


if __name__ == "__main__":
    main()
