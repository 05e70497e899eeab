"""The hidden inputs of the out-of-kernel checks: drawn per student and exercise from a secret seed."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from calcml.probes import as_json
from grading import exercises, manifest
from grading.exercises import Probe

SECRET_NAME = ".seed_secret"
SEEDS = "hmac-sha256(course secret; course_id|student_id|grade_id)"


def course_secret(folder: str | os.PathLike | None = None) -> bytes:
    """The course's secret key for hidden inputs: `<folder>/.seed_secret` (default: `autograder/`).

    Created on first use with 32 random bytes, readable by the grader's user only; `.gitignore` keeps it out of
    git and no sandbox binds it. Keep it for the whole course: a regrade with another secret draws other inputs.
    A link or a file that is not a plain, private secret is refused (a student who could plant one could choose
    everyone's inputs).
    """
    path = Path(folder or manifest.ROOT / "autograder") / SECRET_NAME
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            created = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
            with os.fdopen(created, "w") as handle:
                handle.write(secrets.token_hex(32) + "\n")
        descriptor = os.open(path, flags)
    with os.fdopen(descriptor, "rb") as handle:
        info = os.fstat(handle.fileno())
        key = handle.read(4096).strip()
    if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or len(key) < 32:
        raise PermissionError(f"{path} must be a private regular file (mode 600) holding the course's secret; "
                              "delete it to create a new one")
    return key


def seed_for(course_id: str, student_id: str, grade_id: str, secret: bytes) -> int:
    """The seed of a student's hidden inputs for one exercise: stable across runs, different across students,
    and unknown to anyone without the course's secret."""
    digest = hmac.new(secret, f"{course_id}\x00{student_id}\x00{grade_id}".encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big")


def make_inputs(unit_id: str, student_id: str, probes: Mapping[str, Probe] | None = None,
                course_id: str | None = None, secret: bytes | None = None) -> dict[str, Any]:
    """Every probe's hidden inputs for one student, exactly as the driver will see them (a JSON round trip)."""
    probes = exercises.load_probes(unit_id) if probes is None else probes
    course_id = course_id or manifest.load()["course_id"]
    secret = course_secret() if secret is None else secret
    inputs = {}
    for grade_id, probe in probes.items():
        rng = np.random.default_rng(seed_for(course_id, student_id, grade_id, secret))
        inputs[grade_id] = as_json(probe.inputs(rng), allow_nan=False)
    return inputs


