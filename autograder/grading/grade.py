"""Grade a class: `python -m grading.grade A [--workers N | --scheduler tcp://HOST:8786] [--zip FILE] [--resume]
[--no-sandbox] [--student S ...]`.

The command line of the grader: with `--zip`, the submissions are first collected from the zip
(`grading.collect`); `grading.grader.Grader` then grades every submission (how, and the statuses and files it
writes: see `grading.grader`), and `grading.report` rewrites `grades.csv` and the report. `Grader`, `Options`
and `StudentResult` are re-exported here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from grading import collect, report, sandbox, workers
from grading.config import DEFAULT_CONFIG, STATUSES
from grading.grader import Grader, Options, StudentResult


def grade(assignment: str, options: Options | None = None, zip_path: Path | None = None) -> list[StudentResult]:
    """Grade `assignment`; with `zip_path`, first collect the submissions from that zip (see grading.collect)."""
    options = options or Options()
    grader = Grader(assignment, options)
    if zip_path is not None:
        notebooks = grader.ensure_assignment()
        target = Path(grader.coursedir.format_path(grader.coursedir.submitted_directory, ".", ".")).resolve()
        collected = collect.collect(zip_path, assignment, target, notebooks=notebooks, config=grader.config)
        for line in collected.messages():
            print(line, file=sys.stderr)
        grader.collect_problems = dict(collected.problems)
    results = grader.run()
    if options.report:
        report.write_all(options.config, assignments=[assignment])
    return results


def summary(results: Sequence[StudentResult]) -> str:
    lines = [f"{'student':<24} {'status':<10} {'score':>11}  notes"]
    for r in results:
        note = r.notes[0][:70] if r.notes else ""
        lines.append(f"{r.student:<24} {r.status:<10} {r.score:>5g} / {r.max_score:<4g} {note}")
    counts = {s: sum(r.status == s for r in results) for s in STATUSES}
    lines.append("statuses: " + ", ".join(f"{k} {v}" for k, v in counts.items() if v))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> tuple[str, Options, Path | None]:
    parser = argparse.ArgumentParser(prog="python -m grading.grade", description=__doc__.splitlines()[0])
    parser.add_argument("assignment", help="the assignment (unit id), e.g. 01_derivatives")
    parser.add_argument("--workers", type=int, default=0, help="parallel kernels (default: one per core)")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="run the notebooks on the workers of this Dask "
                        "scheduler (e.g. tcp://HOST:8786) instead of this machine's cores; needs `distributed`")
    parser.add_argument("--resume", action="store_true", help="grade only the submissions without a verdict yet "
                        "(after a run that stopped midway; a crashed or changed submission is graded again)")
    parser.add_argument("--zip", type=Path, help="collect the submissions from this zip first (zip-collect layout)")
    parser.add_argument("--no-sandbox", action="store_true",
                        help="allow grading WITHOUT isolation when bubblewrap is unavailable (trusted local use "
                        "only); with --scheduler, on workers that cannot sandbox")
    parser.add_argument("--student", action="append", default=[], help="grade only this student (repeatable); "
                        "a named student without a submission is reported missing")
    parser.add_argument("--cell-timeout", type=float, help="seconds per cell (default: c.Execute.timeout)")
    parser.add_argument("--notebook-timeout", type=float, help="seconds per notebook, its kernel and its "
                        "out-of-kernel check together (default: 600)")
    parser.add_argument("--memory-mb", type=int, help="memory per kernel in MiB (default: 2048)")
    parser.add_argument("--no-integrity", action="store_true", help="skip the out-of-kernel integrity checks")
    parser.add_argument("--no-report", action="store_true", help="do not rewrite grades.csv and the report")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="the nbgrader config file")
    args = parser.parse_args(argv)
    if args.scheduler and args.workers:
        parser.error("--workers sets this machine's pool; with --scheduler the cluster's workers run the notebooks "
                     "(start more `dask worker` processes instead)")
    options = Options(workers=args.workers, trusted=args.no_sandbox, scheduler=args.scheduler, resume=args.resume,
                      students=tuple(args.student),
                      cell_timeout=args.cell_timeout, notebook_timeout=args.notebook_timeout,
                      memory_mb=args.memory_mb, integrity=not args.no_integrity, report=not args.no_report,
                      progress=not args.quiet, config=args.config.resolve())
    return args.assignment, options, args.zip


def main(argv: Sequence[str] | None = None) -> int:
    assignment, options, zip_path = parse_args(argv)
    try:
        results = grade(assignment, options, zip_path)
    except (sandbox.SandboxUnavailable, collect.UnsafeArchive) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except workers.PoolUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 3
    print(summary(results))
    if options.scheduler:
        print(f"sandbox (Dask workers): {results[0].sandbox}" if results else "sandbox: nothing was run")
        return 0
    iso = sandbox.isolation()
    print(f"sandbox: {iso.describe()}" if iso.ok else "sandbox: NONE (--no-sandbox): student code ran unisolated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
