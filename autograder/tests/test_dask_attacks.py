"""Red-team tests of the Dask backend (`grading.dask_pool`) and of `--resume` (`Grader.has_verdict`).

Unit-level: `dask_pool` functions are called directly and a worker's answer is faked, so no cluster starts.
Each test names the attack; one that is still open is an `xfail(strict=True)` whose reason says the fix.

Accepted by design, not tested here: the coordinator unpickles what a worker answers (the `Executed` and the
notebook's bytes, and an exception when the task erred). Dask pickles results, so a worker that is compromised
runs code on the coordinator. That is acceptable only because the workers are course infrastructure, exactly as
trusted as the coordinator: a compromised worker can also just fabricate a notebook that passes every test. The
scheduler's port is the trust boundary, so students must never be able to reach it (see
`test_a_plain_tcp_scheduler_beyond_this_machine_is_refused`).
"""

from __future__ import annotations

import concurrent.futures as futures
import hashlib
import json
import os
import tempfile
from pathlib import Path
from types import SimpleNamespace

import hostile
import pytest

from grading import dask_pool, grader, intake, sandbox, workers
from grading.config import STATUS_FILE
from grading.execution import Executed, Job

pytest.importorskip("distributed", reason="the Dask backend is an optional extra: pip install -e './lib[dask]'")


def a_job(tmp_path: Path, student: str = "alice", notebook: str = "derivatives") -> Job:
    folder = tmp_path / "scratch" / student / hostile.UNIT
    (folder / "run").mkdir(parents=True, exist_ok=True)
    return Job(student, hostile.UNIT, notebook, str(folder / "run"), str(folder), sandbox.SandboxPolicy(), False,
               60.0, 600.0, str(tmp_path / "nbgrader_config.py"), True, b"secret")


class Answer:
    """What a Dask future of `execute_shipped` looks like to `DaskPool._settle`: what a worker sent back."""

    def __init__(self, value=None, error: BaseException | None = None, status: str = "finished"):
        self.value, self.error, self.status, self.released = value, error, status, False

    def exception(self):
        return self.error

    def result(self):
        return self.value

    def release(self) -> None:
        self.released = True


def a_pool() -> dask_pool.DaskPool:
    pool = object.__new__(dask_pool.DaskPool)  # no cluster: `_settle` and `_ship` only
    pool.address, pool.remote, pool.config, pool.lost = "tcp://127.0.0.1:8786", {}, {}, False
    pool.fingerprint = dask_pool.grading_code_fingerprint()
    return pool


def settle(job: Job, answer: Answer, pool: dask_pool.DaskPool | None = None) -> futures.Future:
    local: futures.Future = futures.Future()
    (pool or a_pool())._settle(job, answer, local)
    assert answer.released, "the cluster forgets every answer once the coordinator has it"
    return local


# --------------------------------------------------------------------------------------------------------------
# (b) A worker that answers wrongly


def test_held_a_worker_cannot_answer_for_another_student_or_notebook(tmp_path) -> None:
    job = a_job(tmp_path)
    lie = Executed("mallory", "99_other", "other", "/etc/passwd", integrity={"ran": True})
    executed = settle(job, Answer((lie, b'{"cells": []}'))).result()
    assert (executed.student, executed.assignment, executed.notebook) == ("alice", hostile.UNIT, "derivatives")
    assert Path(executed.path) == Path(job.notebook_dir) / "derivatives.executed.ipynb", "written where asked"
    assert Path(executed.path).read_bytes() == b'{"cells": []}'


def test_held_an_answer_that_is_not_an_executed_notebook_is_an_error_never_a_verdict(tmp_path) -> None:
    for odd in ({"score": 100}, ("not", "executed"), None):
        local = settle(a_job(tmp_path), Answer(odd))
        with pytest.raises((TypeError, ValueError)):
            local.result()


def test_held_a_notebook_answered_twice_counts_once(tmp_path) -> None:
    recorded: list[str] = []
    stub = SimpleNamespace(record_notebook=lambda e: recorded.append(e.notebook),
                           zero_notebook=lambda *a: recorded.append("zeroed"),
                           finish=lambda student, notebooks, state: SimpleNamespace(student=student))
    pending = {"alice": {"jobs": 2, "done": [], "problems": {}, "notes": []}}
    results: list = []
    first = Executed("alice", hostile.UNIT, "a", "a.executed.ipynb")
    for executed in (first, Executed("alice", hostile.UNIT, "a", "again.ipynb"), first):
        assert grader.Grader._collect(stub, executed, pending, ["a", "b"], results) is False
    assert recorded == ["a"] and results == [], "the repeats were neither recorded nor completed the student"
    assert grader.Grader._collect(stub, Executed("alice", hostile.UNIT, "b", "b.ipynb"), pending, ["a", "b"],
                                  results) is True


def test_held_a_worker_that_refuses_for_lack_of_a_sandbox_ends_the_run(tmp_path) -> None:
    refusal = sandbox.SandboxUnavailable("Dask worker tcp://10.0.0.7:4000: no bwrap")
    with pytest.raises(sandbox.SandboxUnavailable):
        settle(a_job(tmp_path), Answer(error=refusal)).result()


# --------------------------------------------------------------------------------------------------------------
# (e) The scheduler goes away


def test_held_a_cancelled_job_ends_the_run_and_is_never_recorded(tmp_path) -> None:
    pool = a_pool()
    local = settle(a_job(tmp_path), Answer(status="cancelled"), pool)
    with pytest.raises(workers.PoolUnavailable, match="went away.*--resume"):
        local.result()
    assert pool.lost
    assert not (Path(a_job(tmp_path).notebook_dir) / "derivatives.executed.ipynb").exists()


# --------------------------------------------------------------------------------------------------------------
# (d) The code check and the sandbox check on workers


def test_fixed_a_worker_that_joins_midway_with_other_code_refuses_every_job(tmp_path, monkeypatch) -> None:
    """The fingerprint was compared only when the run started: a worker joining later (autoscaling, a restarted
    pod from an older image) graded with other hidden checks. Now each shipment carries the coordinator's."""
    ran = []
    monkeypatch.setattr(dask_pool, "execute_job", lambda job: ran.append(job))
    for fingerprint in ("an image built from another commit", ""):
        shipment = dask_pool.Shipment(a_job(tmp_path), {}, b"", fingerprint)
        with pytest.raises(workers.PoolUnavailable, match="other grading code.*--resume"):
            dask_pool.execute_shipped(shipment)
    assert not ran, "nothing of the student's ran on that worker"


def test_held_a_worker_with_the_same_code_passes_the_check(tmp_path, monkeypatch) -> None:
    """No false refusal: what `_ship` sends is what a worker built from the same tree computes."""
    job = a_job(tmp_path)
    (Path(job.notebook_dir) / "derivatives.ipynb").write_text("{}")
    Path(job.config_path).write_text("c = get_config()\n")
    shipment = a_pool()._ship(job)
    assert shipment.fingerprint == dask_pool._own_fingerprint()
    assert set(shipment.files) == {"derivatives.ipynb"}

    class Reached(Exception):
        pass

    def require(trusted: bool):
        raise Reached

    monkeypatch.setattr(sandbox, "require", require)
    with pytest.raises(Reached):
        dask_pool.execute_shipped(shipment)


def course_tree(root: Path) -> Path:
    for name, text in {"autograder/grading/a.py": "A = 1\n", "source/01_x/x.py": "# hidden check\n",
                       "lib/calcml/numdiff.py": "STEP = 1e-6\n", "course/units.yml": "units: []\n"}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root / "autograder"


def fingerprint_of(autograder: Path, monkeypatch) -> str:
    monkeypatch.setattr(dask_pool, "AUTOGRADER", autograder)
    return dask_pool.grading_code_fingerprint()


def test_fixed_the_fingerprint_covers_calcml_which_the_checks_compare_against(tmp_path, monkeypatch) -> None:
    """The test cells and the out-of-kernel check compare against `calcml` (checks, numdiff): a worker with
    another calcml grades differently, yet had the coordinator's fingerprint."""
    autograder = course_tree(tmp_path / "course")
    before = fingerprint_of(autograder, monkeypatch)
    (tmp_path / "course" / "lib" / "calcml" / "numdiff.py").write_text("STEP = 1e-1\n")
    assert fingerprint_of(autograder, monkeypatch) != before


def test_held_the_fingerprint_ignores_where_the_course_lives_and_its_bytecode(tmp_path, monkeypatch) -> None:
    """No false refusal: a worker image at another path, with its own __pycache__, is the same code."""
    here = fingerprint_of(course_tree(tmp_path / "coordinator"), monkeypatch)
    there = course_tree(tmp_path / "opt" / "worker-image")
    (there / "grading" / "__pycache__").mkdir()
    (there / "grading" / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0compiled")
    assert fingerprint_of(there, monkeypatch) == here


# --------------------------------------------------------------------------------------------------------------
# (a) What else shares a worker's machine


def test_fixed_a_config_file_planted_in_tmp_is_never_run(tmp_path, monkeypatch) -> None:
    """The shipped nbgrader config (Python, which the worker executes) went to a predictable
    /tmp/calcml-config-UID-HASH/ that was reused if it existed, whoever had made it: anyone else on the worker's
    machine could plant a config there and own the worker, then every verdict it sends back."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(dask_pool, "_CONFIG_FILES", {})
    config = b"c = get_config()\nc.Execute.timeout = 60\n"
    planted = tmp_path / f"calcml-config-{os.getuid()}-{hashlib.sha256(config).hexdigest()[:16]}"
    planted.mkdir(mode=0o777)
    (planted / "nbgrader_config.py").write_bytes(b"import os\nos.system('touch /tmp/owned')\n")
    path = dask_pool._config_file(config)
    assert path.read_bytes() == config
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert dask_pool._config_file(config) == path, "one path per content: execution caches the config by path"
    path.write_bytes(b"tampered")
    assert dask_pool._config_file(config).read_bytes() == config, "a changed file is never used"


# --------------------------------------------------------------------------------------------------------------
# (c) --resume


def resume_course(tmp_path: Path, files: dict[str, bytes]) -> tuple[SimpleNamespace, Path, Path]:
    """A Grader stand-in with one submission of `files` and its autograded folder as `prepare` leaves it."""
    submitted = tmp_path / "submitted" / "alice" / hostile.UNIT
    autograded = tmp_path / "autograded" / "alice" / hostile.UNIT
    submitted.mkdir(parents=True)
    for name, data in files.items():
        (submitted / name).write_bytes(data)
    autograded.mkdir(parents=True)
    intake.copy_files(submitted, autograded, student=True)  # what `Preparation._prepare` copies
    stub = SimpleNamespace(autograded=lambda student: autograded, submitted=lambda student: submitted)
    return stub, submitted, autograded


def has_verdict(stub) -> bool:
    return grader.Grader.has_verdict(stub, "alice")


def write_verdict(autograded: Path, status: str) -> None:
    """A status file as `Grader.write_status` leaves it for the submission beside `autograded`."""
    submitted = autograded.parents[1].parent / "submitted" / autograded.parent.name / autograded.name
    (autograded / STATUS_FILE).write_text(json.dumps({"status": status, "score": 3.0,
                                                      "submission_digest": intake.submission_digest(submitted)}))


FORGED = json.dumps({"student": "alice", "status": "graded", "score": 100.0, "max_score": 100.0}).encode()


def test_fixed_a_status_file_handed_in_does_not_skip_the_submission(tmp_path) -> None:
    """A `grading.json` in the submission is a data file (`.json`), so preparing it copies it to where the
    grader's own status file goes. A run that stops before the student is finished (the scheduler went away)
    leaves it there, and `--resume` took it for a verdict: never graded, and the report showed its score."""
    stub, _, autograded = resume_course(tmp_path, {"derivatives.ipynb": b"{}", STATUS_FILE: FORGED})
    assert json.loads((autograded / STATUS_FILE).read_text())["score"] == 100.0, "the copy landed there"
    assert not has_verdict(stub)
    write_verdict(autograded, "graded")  # even a real verdict: the submission holds one, grade it again
    assert not has_verdict(stub)


def test_fixed_a_path_that_cannot_be_read_does_not_stop_the_resume_of_the_class(tmp_path) -> None:
    """A link whose target cannot even be named (a submission refused as `malformed` for it) made `is_file`
    raise inside `Grader.students()`: `--resume` crashed for everyone."""
    stub, submitted, autograded = resume_course(tmp_path, {"derivatives.ipynb": b"{}"})
    os.symlink("x" * 300, submitted / "link")  # ENAMETOOLONG on stat
    os.utime(submitted / "link", (1, 1), follow_symlinks=False)
    os.utime(submitted / "derivatives.ipynb", (1, 1))
    write_verdict(autograded, "malformed")
    assert has_verdict(stub), "the verdict stands: the submission has not changed since"


def test_held_resume_skips_a_verdict_and_regrades_anything_in_doubt(tmp_path) -> None:
    stub, submitted, autograded = resume_course(tmp_path, {"derivatives.ipynb": b"{}", "data.csv": b"1,2\n"})
    os.utime(submitted / "derivatives.ipynb", (1, 1))
    os.utime(submitted / "data.csv", (1, 1))
    assert not has_verdict(stub), "no status file: a run stopped before it"
    for status in ("crashed", "missing", None):
        write_verdict(autograded, status)
        assert not has_verdict(stub), status
    (autograded / STATUS_FILE).write_text('{"status": "graded", "sco')  # cut short by a crash
    assert not has_verdict(stub)
    for status in ("graded", "timeout", "malformed"):
        write_verdict(autograded, status)
        assert has_verdict(stub), status
    (submitted / "data.csv").write_bytes(b"3,4\n")  # handed in again since
    assert not has_verdict(stub)


def test_a_resubmission_with_old_mtimes_is_graded_again(tmp_path) -> None:
    stub, submitted, autograded = resume_course(tmp_path, {"derivatives.ipynb": b'{"v": 1}'})
    write_verdict(autograded, "graded")
    (submitted / "derivatives.ipynb").write_bytes(b'{"v": 2}')
    os.utime(submitted / "derivatives.ipynb", (1, 1))
    os.utime(submitted, (1, 1))
    assert not has_verdict(stub)


def test_a_verdict_without_the_digest_or_for_an_unreadable_submission_is_graded_again(tmp_path) -> None:
    stub, submitted, autograded = resume_course(tmp_path, {"derivatives.ipynb": b"{}"})
    (autograded / STATUS_FILE).write_text(json.dumps({"status": "graded", "submission_digest": ""}))
    assert not has_verdict(stub), "an empty digest (unreadable when graded) never matches"
    write_verdict(autograded, "graded")
    assert has_verdict(stub)
    (submitted / "derivatives.ipynb").chmod(0)
    if os.geteuid() != 0:  # root reads it anyway
        assert not has_verdict(stub)


# --------------------------------------------------------------------------------------------------------------
# The scheduler's port


def test_a_plain_tcp_scheduler_beyond_this_machine_is_refused(monkeypatch) -> None:
    monkeypatch.setattr(dask_pool, "CONNECT_SECONDS", 1.0)
    monkeypatch.delenv(dask_pool.PLAIN_TCP_OPT_IN, raising=False)
    for address in ("tcp://192.0.2.1:8786", "192.0.2.1:8786", "tcp://grader.example.org:8786", "ws://[2001:db8::1]:8786"):
        with pytest.raises(workers.PoolUnavailable, match="(?i)tls"):
            dask_pool.DaskPool(address, trusted=False)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "tcp://localhost:8786", "tcp://[::1]:8786",
                                     "tls://grader.example.org:8786"])
def test_loopback_and_tls_schedulers_are_allowed(address, monkeypatch) -> None:
    monkeypatch.delenv(dask_pool.PLAIN_TCP_OPT_IN, raising=False)
    dask_pool.require_private_transport(address)


def test_plain_tcp_beyond_this_machine_needs_the_instructors_opt_in(monkeypatch) -> None:
    monkeypatch.setenv(dask_pool.PLAIN_TCP_OPT_IN, "1")
    dask_pool.require_private_transport("tcp://192.0.2.1:8786")

