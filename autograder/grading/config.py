"""The course's nbgrader configuration, as the grading tools read it, and the names of the grader's files.

Every grading module reads the course through here (`load_config`, `course_directory`, `pipeline`), so the
modules import one way: `grade` uses `execution`, `workers`, `bookkeeping`, `intake`, `collect` and `report`,
and they all use this module, which uses none of them.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from nbformat import NotebookNode

AUTOGRADER = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = AUTOGRADER / "nbgrader_config.py"
STATUSES = ("graded", "timeout", "crashed", "malformed", "missing")
STATUS_FILE = "grading.json"  # autograded/<student>/<A>/: how the submission ended (`grade.StudentResult`)
INTEGRITY_FILE = "integrity.json"  # beside it: the out-of-kernel check's report (`grading.integrity`)
# Preprocessors that read or write the gradebook run in the main process; the ones before them in the
# configured autograde pipeline (Execute and pure notebook transforms) run in the workers.
GRADEBOOK_STAGE_START = "SaveAutoGrades"


def load_config(path: Path = DEFAULT_CONFIG):
    """The nbgrader config of the course (a traitlets Config), loaded as nbgrader loads it."""
    from traitlets.config.loader import PyFileConfigLoader

    saved = list(sys.path)  # the config puts its own autograder/ first; keep this process's `grading`
    try:
        return PyFileConfigLoader(Path(path).name, path=str(Path(path).parent)).load_config()
    finally:
        sys.path[:] = saved


def course_directory(config):
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory(config=config)


def _class_name(item: Any) -> str:
    return item if isinstance(item, str) else item.__name__


def _resolve(item: Any) -> type:
    if not isinstance(item, str):
        return item
    module, _, name = item.rpartition(".")
    return getattr(importlib.import_module(module), name)


def pipeline(config) -> tuple[list[type], list[type], list[type]]:
    """(sanitize, worker, gradebook) preprocessor classes, from the configured Autograde lists."""
    from nbgrader.converters.autograde import Autograde

    traits = Autograde.class_traits()
    sanitize = config.Autograde.get("sanitize_preprocessors", traits["sanitize_preprocessors"].default())
    autograde = config.Autograde.get("autograde_preprocessors", traits["autograde_preprocessors"].default())
    names = [_class_name(item) for item in autograde]
    if GRADEBOOK_STAGE_START not in names:
        raise SystemExit(f"the autograde pipeline in the nbgrader config has no {GRADEBOOK_STAGE_START}")
    cut = names.index(GRADEBOOK_STAGE_START)
    return ([_resolve(p) for p in sanitize], [_resolve(p) for p in autograde[:cut]],
            [_resolve(p) for p in autograde[cut:]])


def run_preprocessors(classes: Iterable[type], nb: NotebookNode, resources: dict, config,
                       **overrides: Any) -> tuple[NotebookNode, dict]:
    for cls in classes:
        preprocessor = overrides.get(cls.__name__) or cls(config=config)
        nb, resources = preprocessor(nb, resources)
    return nb, resources


@contextlib.contextmanager
def warnings_suppressed():
    """Silence library warnings (nbformat's validation chatter, SQLAlchemy's autoflush notes from nbgrader)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
