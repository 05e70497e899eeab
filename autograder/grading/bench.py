"""Benchmark: `make bench` (or `python -m grading.bench [--students N] [--units U ...] [--workers N]`).

Grades one synthetic class twice, in two throwaway copies of the course with identical submissions:

1. **vanilla**: plain sequential `nbgrader autograde` (one process, one kernel at a time, no sandbox);
2. **ours**: `python -m grading.grade` (sandboxed kernels, N workers, integrity checks when
   `grading.integrity` provides them, unless `--no-integrity`),

and prints both wall times, the ratio, seconds per notebook, and whether the scores agree on the
submissions that both can grade. It is a measurement, not a test: nothing is asserted.

When the optional `distributed` package is installed (`pip install -e "./lib[dask]"`), it also grades the same
class in two more copies through `--scheduler`, on a Dask cluster of this machine (`grading.dask_pool.local_cluster`)
with 1 and then 2 worker processes, and prints their throughput beside the local pool's. Only the grading
command is timed; the cluster is started before it, as a real one would be running already.

`--coordinator N` measures instead what no worker can take off the coordinator: preparing and recording N
submissions of the unit's solved notebook (registration, sanitizing, the gradebook stage, the out-of-kernel
verdicts, the status files), each with the result of one real execution, against the gradebook the nbgrader
config names (SQLite beside it, or `CALCML_DB_URL`). It prints submissions and gradebook commits per second.

The class: for each unit benchmarked (default: the first two that have a release notebook and known-wrong
answers; `--units all` for every one), `--students` students (default 30) cycling through solved (half),
one known-wrong answer, untouched, a cell that raises early
and a malformed file. Both graders see exactly the same files. No infinite loop is included: vanilla
would spend its 60-second cell timeout on it and flatter the ratio.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell

from grading import dask_pool, manifest, release, submissions, workspace
from grading.workers import PoolUnavailable

DASK_WORKERS = (1, 2)  # the Dask lines: local clusters of this many worker processes


def usable_units() -> list[dict]:
    units = []
    for entry in manifest.load()["units"]:
        if (manifest.release_notebook(entry).exists() and manifest.source_script(entry).exists()
                and submissions.wrong_answers(entry)):
            units.append(entry)
    return units


def synthetic_class(entry: dict, students: int) -> dict[str, str]:
    """{student: notebook JSON text} for one unit."""
    solved = submissions.solved(entry)
    wrong = [(solution_id, source) for solution_id, sources in submissions.wrong_answers(entry).items()
             for source in sources]
    out: dict[str, str] = {}
    for i in range(students):
        kind = ("solved", "wrong", "solved", "untouched", "solved", "raises", "solved", "wrong", "solved",
                "malformed")[i % 10]
        if kind == "solved":
            notebook = solved
        elif kind == "wrong":
            solution_id, source = wrong[i % len(wrong)]
            notebook = submissions.with_wrong_answer(entry, solution_id, source)
        elif kind == "untouched":
            notebook = submissions.release(entry)
        elif kind == "raises":
            notebook = copy.deepcopy(solved)
            notebook.cells.insert(1, new_code_cell("raise RuntimeError('a student bug')"))
        else:
            out[f"s{i:03d}"] = nbformat.writes(solved)[:500]
            continue
        out[f"s{i:03d}"] = nbformat.writes(notebook)
    return out


def prepare(root: Path, units: list[dict], classes: dict[str, dict[str, str]]) -> None:
    for entry in units:
        workspace.run_nbgrader(root, "generate_assignment", entry["id"], "--force")
        for student, text in classes[entry["id"]].items():
            path = root / "autograder" / "submitted" / student / entry["id"] / f"{entry['notebook']}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


CPUACCT = Path("/sys/fs/cgroup/cpuacct")


class CpuMeter:
    """CPU seconds used by a command and every process below it (kernels included), through a cgroup-v1
    cpuacct group when one can be made (root); otherwise it measures nothing."""

    def __init__(self, name: str):
        self.folder: Path | None = CPUACCT / f"calcml-bench-{os.getpid()}-{name}"
        try:
            self.folder.mkdir()
        except OSError:
            self.folder = None

    def wrap(self, command: list[str]) -> list[str]:
        if self.folder is None:
            return command
        return ["/bin/sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', str(self.folder), *command]

    def seconds(self) -> float | None:
        if self.folder is None:
            return None
        try:
            return int((self.folder / "cpuacct.usage").read_text()) / 1e9
        except (OSError, ValueError):
            return None

    def close(self) -> None:
        if self.folder is not None:
            for _ in range(50):
                try:
                    self.folder.rmdir()
                    return
                except OSError:
                    time.sleep(0.1)


def timed(command: list[str], cwd: Path, env: dict[str, str],
          meter: CpuMeter | None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.monotonic()
    result = subprocess.run(meter.wrap(command) if meter else command, cwd=cwd, env=env, capture_output=True,
                            text=True)
    return time.monotonic() - start, result


def load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def scores(root: Path, units: list[dict]) -> dict[tuple[str, str], float]:
    from nbgrader.api import Gradebook

    out = {}
    with Gradebook(f"sqlite:///{root / 'autograder' / 'gradebook.db'}") as gb:
        for entry in units:
            for submission in gb.find_assignment(entry["id"]).submissions:
                out[(entry["id"], submission.student.id)] = float(submission.score)
    return out


def grade_on_dask(name: str, units: list[dict], root: Path, base: Path, env: dict[str, str],
                  options: list[str]) -> float:
    """Seconds to grade `units` in the copy at `root` through a fresh local Dask cluster (`name`: dask<N>)."""
    workers = int(name.removeprefix("dask"))
    total = 0.0
    config = root / "autograder" / "nbgrader_config.py"
    with dask_pool.local_cluster(workers, base / f"{name}-cluster", env=env) as cluster:
        for entry in units:
            command = [sys.executable, "-m", "grading.grade", entry["id"], "--quiet", "--no-report",
                       "--config", str(config), "--scheduler", cluster.address, *options]
            seconds, result = timed(command, base, env, None)
            total += seconds
            statuses = next((line for line in result.stdout.splitlines() if line.startswith("statuses:")), "")
            print(f"  dask ({workers} worker(s)) grading.grade {entry['id']}: {seconds:.1f} s "
                  f"(exit {result.returncode}) {statuses}", flush=True)
            if result.returncode != 0:
                print(result.stderr[-2000:], file=sys.stderr)
    return total


def coordinator_rate(count: int, base: Path) -> None:
    """Print how many submissions per second the coordinator alone prepares and records (see the module doc)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    from grading import execution
    from grading.grader import Grader, Options

    entry = usable_units()[0]
    root = workspace.create(base / "coordinator")
    students = [f"s{i:05d}" for i in range(count)]
    for student in students:
        submissions.write(submissions.solved(entry), root / "autograder" / "submitted" / student / entry["id"]
                          / f"{entry['notebook']}.ipynb")
    grader = Grader(entry["id"], Options(workers=1, report=False, progress=False,
                                         config=root / "autograder" / "nbgrader_config.py"))
    grader.scratch = base / "scratch"
    notebooks = grader.ensure_assignment()
    jobs, _, _ = grader.prepare(students[0], notebooks)
    executed = execution.execute_job(jobs[0])  # one real execution: every submission records its result
    executed_notebook = Path(executed.path).read_bytes()
    commits = [0]
    event.listen(Engine, "commit", lambda connection: commits.__setitem__(0, commits[0] + 1))
    pending: dict[str, dict] = {}
    results: list = []
    start = time.monotonic()
    for student in students:
        jobs, problems, notes = grader.prepare(student, notebooks)
        pending[student] = {"jobs": len(jobs), "done": [], "problems": problems, "notes": notes}
        for job in jobs:
            copy_path = Path(job.notebook_dir) / f"{job.notebook}.executed.ipynb"
            copy_path.write_bytes(executed_notebook)
            grader._collect(dataclasses.replace(executed, student=student, path=str(copy_path)), pending,
                            notebooks, results)
    seconds = time.monotonic() - start
    statuses = {r.status for r in results}
    print(f"coordinator, {grader.db_url.split(':', 1)[0]} gradebook: {count} submissions prepared and recorded in "
          f"{seconds:.1f} s: {count / seconds:.2f} submissions/s, {commits[0] / seconds:.1f} gradebook commits/s "
          f"({commits[0] / count:.1f} per submission); statuses {sorted(statuses)}; load {load()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grading.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30, help="students per unit (default 30)")
    parser.add_argument("--units", nargs="*", help="unit ids, or `all` (default: the first two units that have a "
                        "release notebook and known-wrong answers, so the bench takes a few minutes)")
    parser.add_argument("--workers", type=int, default=0, help="our grader's workers (default: one per core)")
    parser.add_argument("--no-integrity", action="store_true", help="run our grader without the integrity checks")
    parser.add_argument("--keep", action="store_true", help="keep the two course copies and print where")
    parser.add_argument("--coordinator", type=int, metavar="N", help="measure only the coordinator's side: "
                        "prepare and record N submissions (gradebook commits per second)")
    args = parser.parse_args(argv)
    if args.coordinator:
        base = Path(tempfile.mkdtemp(prefix="calcml-bench-"))
        try:
            coordinator_rate(args.coordinator, base)
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return 0
    units = usable_units()
    if not args.units:
        units = units[:2]
    elif args.units != ["all"]:
        units = [e for e in units if e["id"] in args.units]
    if not units:
        print("no unit to benchmark", file=sys.stderr)
        return 1
    classes = {entry["id"]: synthetic_class(entry, args.students) for entry in units}
    notebooks = sum(len(c) for c in classes.values())
    base = Path(tempfile.mkdtemp(prefix="calcml-bench-"))
    try:
        try:
            dask_pool.distributed_module()
            with_dask = [f"dask{n}" for n in DASK_WORKERS]
        except PoolUnavailable as error:
            print(f"no Dask lines: {error}", flush=True)
            with_dask = []
        roots = {name: workspace.create(base / name) for name in ("vanilla", "ours", *with_dask)}
        for root in roots.values():
            prepare(root, units, classes)
        env = release.nbgrader_env()
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
        print(f"class: {args.students} students x {len(units)} unit(s) ({', '.join(e['id'] for e in units)}) "
              f"= {notebooks} notebooks; {os.cpu_count()} cores", flush=True)
        meters = {"vanilla": CpuMeter("vanilla"), "ours": CpuMeter("ours")}
        loads = [load()]
        vanilla = ours = 0.0
        env_vanilla = dict(env, PYTHONPATH=str(roots["vanilla"] / "autograder"))
        env_ours = dict(env, PYTHONPATH=str(manifest.ROOT / "autograder"))
        config = roots["ours"] / "autograder" / "nbgrader_config.py"
        # Unit by unit, vanilla then ours: a change in the machine's load hits both alike.
        for entry in units:
            seconds, result = timed([sys.executable, "-m", "nbgrader", "autograde", entry["id"], "--force",
                                     "--create", "--log-level=ERROR"], roots["vanilla"] / "autograder", env_vanilla,
                                    meters["vanilla"])
            vanilla += seconds
            print(f"  vanilla nbgrader autograde {entry['id']}: {seconds:.1f} s (exit {result.returncode})", flush=True)
            command = [sys.executable, "-m", "grading.grade", entry["id"], "--quiet", "--no-report",
                       "--config", str(config)]
            if args.workers:
                command += ["--workers", str(args.workers)]
            if args.no_integrity:
                command.append("--no-integrity")
            seconds, result = timed(command, base, env_ours, meters["ours"])
            ours += seconds
            tail = result.stdout.strip().splitlines()
            statuses = next((line for line in tail if line.startswith("statuses:")), "")
            print(f"  ours  grading.grade {entry['id']}: {seconds:.1f} s (exit {result.returncode}) {statuses}",
                  flush=True)
            if result.returncode != 0:
                print(result.stderr[-2000:], file=sys.stderr)
        dask_seconds = {}
        for name in with_dask:
            dask_seconds[name] = grade_on_dask(name, units, roots[name], base, env_ours,
                                               ["--no-integrity"] if args.no_integrity else [])
        loads.append(load())
        cpu = {name: meter.seconds() for name, meter in meters.items()}
        for meter in meters.values():
            meter.close()
        a, b = scores(roots["vanilla"], units), scores(roots["ours"], units)
        malformed = {(e["id"], s) for e in units for s, text in classes[e["id"]].items() if len(text) <= 500}
        common = sorted((set(a) & set(b)) - malformed)
        differ = [(key, a[key], b[key]) for key in common if a[key] != b[key]]
        from grading import sandbox

        iso = sandbox.isolation()
        integrity = "off" if args.no_integrity else (
            "on" if (manifest.ROOT / "autograder" / "grading" / "integrity.py").exists() else "not available")
        print()
        print(f"vanilla (sequential nbgrader autograde): {vanilla:8.1f} s  {vanilla / notebooks:6.2f} s/notebook")
        print(f"ours (grading.grade, sandbox {'on' if iso.ok else 'OFF'}, integrity {integrity}, "
              f"{args.workers or len(os.sched_getaffinity(0))} workers): {ours:8.1f} s  "
              f"{ours / notebooks:6.2f} s/notebook")
        print(f"ratio vanilla/ours: {vanilla / ours:.2f}x (goal: 1.8x or more)")
        if cpu["vanilla"] and cpu["ours"]:
            print(f"CPU seconds (all processes, kernels included): vanilla {cpu['vanilla']:.1f}, "
                  f"ours {cpu['ours']:.1f} "
                  f"({cpu['vanilla'] / cpu['ours']:.2f}x less work per class)")
        print(f"load average before/after: {loads[0]} / {loads[1]} (other work on the machine slows both and "
              "hides the parallel gain: compare on an idle machine)")
        print(f"scores: {len(common) - len(differ)} of {len(common)} submissions graded by both agree"
              + (f"; differ: {differ[:5]}" if differ else ""))
        for name, seconds in dask_seconds.items():
            n = int(name.removeprefix("dask"))
            agree = scores(roots[name], units) == b
            print(f"dask, {n} local worker process(es): {seconds:8.1f} s  {seconds / notebooks:6.2f} s/notebook; "
                  f"throughput {ours / seconds:.2f}x the local pool's; scores {'equal' if agree else 'DIFFER from'} "
                  "the local pool's")
        if len(dask_seconds) == 2:
            one, two = (dask_seconds[f"dask{n}"] for n in DASK_WORKERS)
            print(f"dask scaling, {DASK_WORKERS[1]} workers vs {DASK_WORKERS[0]}: {one / two:.2f}x the throughput "
                  f"(on {len(os.sched_getaffinity(0))} cores shared with the coordinator)")
        if args.keep:
            print(f"course copies kept in {base}")
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
