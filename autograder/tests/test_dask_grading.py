"""The grader on a Dask cluster (`grading.dask_pool`): a real `dask scheduler` and `dask worker` processes on
localhost grade a class exactly as the local pool does, a killed worker loses nothing and counts nothing twice,
a scheduler that goes away ends the run and `--resume` grades only the rest, and a worker that cannot sandbox
is refused."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import hostile
import pytest

from grading import dask_pool, grade, samples, sandbox, workers

pytest.importorskip("distributed", reason="the Dask backend is an optional extra: pip install -e './lib[dask]'")
# one worker builds this module's graded classes (session fixtures) once: `--dist loadgroup`
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dask_grading")]

# Few notebooks, each run twice or more: the file stays within a few minutes on a 2-core machine.
SAMPLES = {s: nb for s, nb in samples.samples(hostile.ENTRY).items() if s in ("correct", "wrong", "partial")}
CLASS = SAMPLES | {
    "blanker": hostile.inject(hostile.untouched(), hostile.BLANK_TESTS),  # passes in its kernel, not out of it
    "exiter": hostile.inject(hostile.untouched(), "import os\nos._exit(3)"),  # kills its own kernel: crashed
}
ONE_RETRY = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"}


def on_dask(cluster: dask_pool.LocalCluster, root: Path, **changes) -> list[grade.StudentResult]:
    """Grade the class of the course copy at `root` on `cluster`."""
    options = hostile.options(root, workers=0, scheduler=cluster.address, **changes)
    return grade.Grader(hostile.UNIT, options).run()


def graded_class(tmp_path_factory, name: str, students: dict) -> Path:
    root = hostile.course(tmp_path_factory, name)
    hostile.write(root, students)
    hostile.notebook_path(root, "broken").parent.mkdir(parents=True)
    hostile.notebook_path(root, "broken").write_text('{"nbformat": 4, "cells": [')  # malformed: never runs
    return root


def verdicts(results) -> dict[str, tuple]:
    return {r.student: (r.status, r.score, r.integrity, {g: e["score"] for g, e in r.exercises.items()})
            for r in results}


def verdicts_by_student(results) -> dict:
    return {r.student: r for r in results}


def assert_one_submission_each(root: Path, students: list[str]) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        assert sorted(s.student.id for s in gb.find_assignment(hostile.UNIT).submissions) == sorted(students)


def flags(root: Path, student: str) -> list[str]:
    path = hostile.autograded(root, student) / "integrity.json"
    return sorted(json.loads(path.read_text())["flags"]) if path.exists() else []


def runs_a_kernel(pid: int) -> bool:
    """Whether a process below `pid` is a notebook's kernel (not the sandbox probe a worker runs at the start)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    below, frontier = [], [pid]
    while frontier:
        frontier = [p for p, parent in parents.items() if parent in frontier]
        below += frontier
    for process in below:
        try:
            if b"ipykernel" in Path(f"/proc/{process}/cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


def kill_when_busy(processes, times: int, deadline: float = 240) -> threading.Thread:
    """In the background: `times` times, SIGKILL the first live worker that is running a notebook's kernel."""

    def watch() -> None:
        end = time.monotonic() + deadline
        killed = 0
        while killed < times and time.monotonic() < end:
            busy = [p for p in processes if p.poll() is None and runs_a_kernel(p.pid)]
            if busy:
                time.sleep(1.0)  # mid-notebook, not at its first instruction
                os.kill(busy[0].pid, signal.SIGKILL)
                busy[0].wait()
                killed += 1
            time.sleep(0.2)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    root = graded_class(tmp_path_factory, "local", CLASS)
    return root, grade.Grader(hostile.UNIT, hostile.options(root, notebook_timeout=300)).run()


def test_a_dask_cluster_grades_a_class_as_the_local_pool_does(local_run, tmp_path_factory, tmp_path) -> None:
    local_root, local_results = local_run
    root = graded_class(tmp_path_factory, "dask", CLASS)
    with dask_pool.local_cluster(2, tmp_path) as cluster:
        results = on_dask(cluster, root, notebook_timeout=300)
    assert verdicts(results) == verdicts(local_results)
    assert {s: flags(root, s) for s in CLASS} == {s: flags(local_root, s) for s in CLASS}
    statuses = {r.student: r.status for r in results}
    assert statuses["exiter"] == "crashed" and statuses["broken"] == "malformed" and statuses["correct"] == "graded"
    assert flags(root, "blanker"), "the out-of-kernel check ran on the worker and caught the blanked tests"
    assert all(r.sandbox.startswith("bubblewrap") for r in results), "the workers' isolation is reported"


def test_a_killed_worker_s_jobs_run_again_on_the_other_worker(local_run, tmp_path_factory, tmp_path) -> None:
    _, local_results = local_run
    root = graded_class(tmp_path_factory, "killed", SAMPLES)
    with dask_pool.local_cluster(2, tmp_path, env=ONE_RETRY) as cluster:
        killer = kill_when_busy(cluster.workers, times=1)
        results = on_dask(cluster, root, integrity=False)
        killer.join(timeout=5)
        assert sum(w.poll() is not None for w in cluster.workers) == 1, "a worker was killed mid-run"
    expected = {s: (r.status, r.score) for s, r in verdicts_by_student(local_results).items() if s in SAMPLES}
    assert {r.student: (r.status, r.score) for r in results if r.student in SAMPLES} == expected
    assert sorted(r.student for r in results) == sorted([*SAMPLES, "broken"]), "none lost, none twice"
    assert_one_submission_each(root, [*SAMPLES, "broken"])


def test_a_notebook_whose_workers_keep_dying_ends_crashed_with_the_reason(tmp_path_factory, tmp_path) -> None:
    root = hostile.course(tmp_path_factory, "doomed")
    hostile.write(root, {"correct": SAMPLES["correct"]})
    with dask_pool.local_cluster(2, tmp_path, env=ONE_RETRY) as cluster:
        killer = kill_when_busy(cluster.workers, times=2)  # its first run, then its one retry
        results = on_dask(cluster, root, integrity=False)
        killer.join(timeout=5)
    [result] = results
    assert result.status == "crashed", result
    assert any("every Dask worker that ran this notebook died" in note for note in result.notes), result.notes
    first = hostile.ENTRY["exercises"][0]["grade_id"]
    assert hostile.gradebook_grade(root, "correct", first) == (0.0, True), "scored 0 and marked for a manual look"


def test_a_scheduler_that_goes_away_ends_the_run_and_resume_grades_only_the_rest(
        local_run, tmp_path_factory, tmp_path) -> None:
    _, local_results = local_run
    root = graded_class(tmp_path_factory, "gone", SAMPLES)
    status_files = {s: hostile.autograded(root, s) / "grading.json" for s in SAMPLES}
    with dask_pool.local_cluster(1, tmp_path / "first") as cluster:
        def stop_the_scheduler_after_one_submission() -> None:
            while not any(p.exists() for s, p in status_files.items()) and cluster.scheduler.poll() is None:
                time.sleep(0.2)
            os.killpg(cluster.scheduler.pid, signal.SIGKILL)

        threading.Thread(target=stop_the_scheduler_after_one_submission, daemon=True).start()
        with pytest.raises(workers.PoolUnavailable, match="went away.*--resume"):
            on_dask(cluster, root, integrity=False)
    done = {s: p.stat().st_mtime for s, p in status_files.items() if p.exists()}
    assert 1 <= len(done) < len(SAMPLES), done
    with dask_pool.local_cluster(1, tmp_path / "second") as cluster:
        resumed = on_dask(cluster, root, integrity=False, resume=True)
    assert sorted(r.student for r in resumed) == sorted(set(SAMPLES) - set(done)), "only what was missing"
    assert {s: p.stat().st_mtime for s, p in status_files.items() if s in done} == done, "not graded twice"
    final = {s: json.loads(p.read_text()) for s, p in status_files.items()}
    expected = verdicts_by_student(local_results)
    assert {s: (d["status"], d["score"]) for s, d in final.items()} == {
        s: (expected[s].status, expected[s].score) for s in SAMPLES}


def test_a_worker_that_cannot_sandbox_is_refused_unless_trusted(tmp_path) -> None:
    preload = tmp_path / "no_sandbox.py"
    preload.write_text("from grading import sandbox\n"
                       "NONE = sandbox.Isolation(False, 'bwrap not found on this test worker', 'none', None, None)\n"
                       "sandbox.isolation = lambda: NONE\n")
    with dask_pool.local_cluster(1, tmp_path, worker_args=("--preload", str(preload))) as cluster:
        with pytest.raises(sandbox.SandboxUnavailable, match="bwrap not found on this test worker") as refused:
            dask_pool.DaskPool(cluster.address, trusted=False)
        assert "--no-sandbox" in str(refused.value) and cluster.address.rsplit(":", 1)[0] in str(refused.value)
        trusted = dask_pool.DaskPool(cluster.address, trusted=True)
        try:
            assert not trusted.isolation.ok
        finally:
            trusted.shutdown()


def test_a_worker_with_other_grading_code_is_refused(tmp_path) -> None:
    preload = tmp_path / "old_image.py"
    preload.write_text("from grading import dask_pool\n"
                       "dask_pool.grading_code_fingerprint = lambda: 'an image built from another commit'\n")
    with dask_pool.local_cluster(1, tmp_path, worker_args=("--preload", str(preload))) as cluster:
        with pytest.raises(workers.PoolUnavailable, match="other grading code or hidden checks.*same commit"):
            dask_pool.DaskPool(cluster.address, trusted=True)


def test_the_cli_says_how_to_start_a_scheduler_it_cannot_reach(monkeypatch, capsys) -> None:
    monkeypatch.setattr(dask_pool, "CONNECT_SECONDS", 2.0)
    code = grade.main([hostile.UNIT, "--scheduler", "tcp://127.0.0.1:9", "--quiet", "--no-report", "--no-integrity"])
    err = capsys.readouterr().err
    assert code == 3
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err and "dask worker" in err
