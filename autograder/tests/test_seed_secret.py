"""Issue 9, class 8: hidden inputs cannot be computed offline.

The out-of-kernel check's inputs are seeded with an HMAC keyed by a per-course secret, created on first use
beside the nbgrader config, private to the grader's user, ignored by git and invisible in every sandbox.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from calcml import probes
from grading import integrity, manifest, sandbox

UNIT = "01_derivatives"
GRADE_ID = "01_derivatives-d_ratio"


def public_seed(course_id: str, student: str, grade_id: str) -> int:
    """The seed as anyone could compute it from public values alone (how it was before the secret)."""
    digest = hashlib.sha256(f"{course_id}\x00{student}\x00{grade_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def test_the_secret_is_created_once_private_and_kept(tmp_path) -> None:
    key = integrity.course_secret(tmp_path)
    path = tmp_path / integrity.SECRET_NAME
    assert len(key) >= 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert integrity.course_secret(tmp_path) == key, "a regrade must use the same secret"


@pytest.mark.parametrize("plant", ["link", "readable", "short"])
def test_a_planted_or_loose_secret_is_refused(tmp_path, plant) -> None:
    path = tmp_path / integrity.SECRET_NAME
    if plant == "link":
        (tmp_path / "chosen").write_text("0" * 64)
        os.chmod(tmp_path / "chosen", 0o600)
        os.symlink(tmp_path / "chosen", path)
    else:
        path.write_text("0" * (64 if plant == "readable" else 8))
        os.chmod(path, 0o644 if plant == "readable" else 0o600)
    with pytest.raises(OSError):
        integrity.course_secret(tmp_path)


def test_inputs_depend_on_the_secret_and_not_on_public_values_alone() -> None:
    course_id = manifest.load()["course_id"]
    one = integrity.make_inputs(UNIT, "ada", secret=b"a" * 32)
    assert integrity.make_inputs(UNIT, "ada", secret=b"a" * 32) == one
    assert integrity.make_inputs(UNIT, "ada", secret=b"b" * 32) != one
    probe = integrity.load_spec(UNIT)[GRADE_ID]
    offline = probe.inputs(np.random.default_rng(public_seed(course_id, "ada", GRADE_ID)))
    assert probes.as_json(offline) != one[GRADE_ID], "the inputs can still be computed from public values"
    seeds = {integrity.seed_for(course_id, s, g, b"a" * 32) for s in ("ada", "eve") for g in (GRADE_ID, "x")}
    assert len(seeds) == 4


def test_git_ignores_the_secret() -> None:
    path = manifest.ROOT / "autograder" / integrity.SECRET_NAME
    result = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=manifest.ROOT)
    assert result.returncode == 0, "autograder/.seed_secret must be ignored by git"


@pytest.mark.slow
def test_no_sandbox_can_read_the_secret(tmp_path) -> None:
    integrity.course_secret(tmp_path)
    path = tmp_path / integrity.SECRET_NAME
    reader = f"try:\n    print('READ', open({str(path)!r}).read())\nexcept OSError as e:\n    print('blocked', e)"
    completed = sandbox.run([sys.executable, "-I", "-c", reader], sandbox.SandboxPolicy(wall_seconds=60))
    assert "blocked" in completed.stdout and "READ" not in completed.stdout, completed.stdout
