"""Grading on a Dask cluster: `DaskPool`, what `Grader` uses instead of the local `workers.Pool` with
`--scheduler tcp://HOST:8786`, and `local_cluster`, a scheduler and worker processes on this machine.

Workers only execute: each gets a `Shipment` (the `Job` with the bytes of the sanitized notebook, of the files
its kernel sees and of the nbgrader config, since a remote worker shares no disk with the coordinator), runs
the same `grading.execution.execute_job` in a private scratch folder of its own, and sends back the `Executed`
with the executed notebook's bytes. The coordinator writes those into its own scratch folder and records them
as it records a local worker's: it stays the only writer of the gradebook and decides every verdict.

A worker is as hostile a place as a kernel: before the first job, every worker is asked whether it can sandbox
(`sandbox.available`, on the worker) and runs the same grading code as the coordinator; any that cannot is
refused, unless `--no-sandbox`. Every job asks again (a worker may join midway): a worker without a sandbox or
with other code refuses it, and the run ends (`workers.PoolUnavailable`) rather than a student losing points.
A worker that dies mid-notebook has its jobs run again on another worker by the scheduler, up to its
`distributed.scheduler.allowed-failures` (default 3); beyond that the notebook is `crashed` with the reason.
A scheduler that goes away ends the run (`workers.PoolUnavailable`).
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import dataclasses
import functools
import hashlib
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from grading import sandbox
from grading.config import AUTOGRADER
from grading.execution import Executed, Job, execute_job
from grading.workers import PoolUnavailable

INSTALL_HINT = ("Grading on a Dask cluster needs the `distributed` package on the coordinator and on every "
                "worker: `pip install -e \"./lib[dask]\"` (or `pip install distributed`).")
CONNECT_SECONDS = 30.0  # to reach the scheduler, and for its first worker to join
# What decides a grade on a worker: the grader's code and the hidden checks read from source/ and release/.
# calcml is what the test cells and the out-of-kernel check compare against (`calcml.checks`, `calcml.numdiff`).
GRADING_CODE = ("autograder/grading/**/*.py", "source/**/*.py", "release/**/*.ipynb", "course/units.yml",
                "lib/calcml/**/*.py")


@dataclasses.dataclass
class Shipment:
    """One job with everything it reads, as bytes: a remote worker shares no disk with the coordinator."""

    job: Job
    files: dict[str, bytes]  # relative to the job's notebook folder: the sanitized notebook and run/
    config: bytes  # the nbgrader config file
    fingerprint: str = ""  # the coordinator's `grading_code_fingerprint`: a worker with other code refuses the job


def distributed_module() -> Any:
    """`distributed`, imported only when a run asks for a cluster: it is not a requirement of the course."""
    try:
        import distributed
    except ImportError as error:
        raise PoolUnavailable(f"--scheduler given, but {INSTALL_HINT}") from error
    return distributed


# --------------------------------------------------------------------------------------------------------------
# Worker side


def grading_code_fingerprint() -> str:
    """A digest of the files that decide a grade, to check that a worker grades with the coordinator's code."""
    digest = hashlib.sha256()
    root = AUTOGRADER.parent
    for pattern in GRADING_CODE:
        for path in sorted(root.glob(pattern)):
            if "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def _own_fingerprint() -> str:
    """This worker's fingerprint, once: the code it grades with was imported when it started."""
    return grading_code_fingerprint()


def _worker_name() -> str:
    with contextlib.suppress(ImportError, ValueError):
        from distributed import get_worker

        return get_worker().address
    return f"pid {os.getpid()}"


def describe_worker() -> dict[str, Any]:
    """Run on each worker before the first job: can it sandbox, and with which grading code?"""
    ok, reason = sandbox.available()
    return {"sandbox": ok, "reason": reason, "isolation": sandbox.isolation(),
            "fingerprint": grading_code_fingerprint()}


_CONFIG_FILES: dict[str, Path] = {}


def _config_file(config: bytes) -> Path:
    """The shipped nbgrader config, written once per worker process and content (execution caches it by path),
    in a folder of its own that nobody else can have made beforehand (a config file is Python: it runs)."""
    digest = hashlib.sha256(config).hexdigest()
    path = _CONFIG_FILES.get(digest)
    if path is None or not path.is_file() or path.read_bytes() != config:
        path = Path(tempfile.mkdtemp(prefix="calcml-config-")) / "nbgrader_config.py"
        path.write_bytes(config)
        _CONFIG_FILES[digest] = path
    return path


def execute_shipped(shipment: Shipment) -> tuple[Executed, bytes | None]:
    """Run on a worker: execute the shipped notebook as a local worker does, in a private scratch folder."""
    job = shipment.job
    # Checked on every job, not only at the start: a worker may join the cluster midway (autoscaling).
    if shipment.fingerprint != _own_fingerprint():
        raise PoolUnavailable(f"Dask worker {_worker_name()} grades with other grading code or hidden checks than "
                              "the coordinator: build its image from the same commit of the course, then --resume")
    try:
        isolation = sandbox.require(job.trusted)
    except sandbox.SandboxUnavailable as error:
        raise sandbox.SandboxUnavailable(f"Dask worker {_worker_name()}: {error}") from None
    if isolation.ok:
        sandbox.sweep_stale_cgroups()  # the jails of a worker process killed before this one started
    scratch = Path(tempfile.mkdtemp(prefix="calcml-grade-"))
    try:
        # The layout of the coordinator's scratch folder: the kernel sees run/ only, never the notebook above it.
        notebook_dir = scratch / job.student / job.assignment
        (notebook_dir / "run").mkdir(parents=True)
        for name, data in shipment.files.items():
            path = notebook_dir / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        here = dataclasses.replace(job, workdir=str(notebook_dir / "run"), notebook_dir=str(notebook_dir),
                                   config_path=str(_config_file(shipment.config)))
        executed = execute_job(here)
        notebook = Path(executed.path).read_bytes() if executed.path else None
        executed.path = None  # a path on this worker's disk means nothing to the coordinator
        return executed, notebook
    finally:
        sandbox.remove_tree(scratch)


# --------------------------------------------------------------------------------------------------------------
# Coordinator side


#: Set to 1 to grade through a plain tcp:// scheduler on another machine, on a network no student can reach.
PLAIN_TCP_OPT_IN = "CALCML_DASK_PLAIN_TCP"


def require_private_transport(address: str) -> None:
    """Refuse a scheduler that anyone on the network could join, unless the instructor opts in.

    Dask's tcp:// neither authenticates nor encrypts: whoever reaches the scheduler's port can join as a worker,
    receive every shipment (hidden tests, the course secret) and answer with full marks. So plain TCP is for this
    machine only (loopback); beyond it use tls:// with client certificates, or set `PLAIN_TCP_OPT_IN` to 1.
    """
    scheme, rest = address.split("://", 1) if "://" in address else ("tcp", address)
    if scheme not in ("tcp", "ws"):
        return  # tls://, wss://, inproc://: encrypted or in-process
    host = rest.rsplit(":", 1)[0].strip("[]") if rest.count(":") else rest
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return
    if host == "localhost" or os.environ.get(PLAIN_TCP_OPT_IN) == "1":
        return
    raise PoolUnavailable(
        f"the scheduler {address} is reached over plain {scheme}://, which Dask neither authenticates nor "
        "encrypts: anyone who can reach it could receive the hidden tests and send back full marks. Use "
        "tls:// with client certificates (Dask's distributed.comm.require-encryption), or, on a network no "
        f"student can reach, set {PLAIN_TCP_OPT_IN}=1.")


class DaskPool:
    """The jobs of a run on a Dask cluster, as `concurrent.futures` futures of `Executed` (what the local
    `workers.Pool` gives), so `Grader` drives both alike."""

    generation = 0  # the local pool's restarts after a worker death: the scheduler does that here

    def __init__(self, address: str, trusted: bool):
        require_private_transport(address)
        distributed = distributed_module()
        self.address = address
        try:
            self.client = distributed.Client(address, timeout=CONNECT_SECONDS, set_as_default=False)
        except (OSError, TimeoutError) as error:
            raise PoolUnavailable(f"cannot reach the Dask scheduler at {address} ({error}). Start one with "
                                  "`dask scheduler` and its workers with `dask worker ADDRESS --nthreads 1`, "
                                  "or grade on this machine without --scheduler.") from None
        self.remote: dict[futures.Future, Any] = {}
        self.config: dict[str, bytes] = {}
        self.fingerprint = grading_code_fingerprint()
        self.lost = False
        try:
            self.isolation = self._check_workers(trusted)
        except BaseException:
            self.client.close()
            raise

    def _check_workers(self, trusted: bool) -> sandbox.Isolation:
        """Refuse workers that cannot sandbox (unless trusted) or grade with other code; return the isolation."""
        try:
            self.client.wait_for_workers(1, timeout=CONNECT_SECONDS)
        except TimeoutError:
            raise PoolUnavailable(f"the Dask scheduler at {self.address} has no worker after {CONNECT_SECONDS:g} s: "
                                  "start some with `dask worker ADDRESS --nthreads 1`") from None
        found = self.client.run(describe_worker)
        unsafe = {worker: d["reason"] for worker, d in found.items() if not d["sandbox"]}
        if unsafe and not trusted:
            names = "; ".join(f"{worker}: {reason}" for worker, reason in sorted(unsafe.items()))
            raise sandbox.SandboxUnavailable(f"Refusing to grade on Dask workers that cannot sandbox student "
                                             f"code ({names}).\n{sandbox.INSTALL_HINT}")
        stale = sorted(worker for worker, d in found.items() if d["fingerprint"] != self.fingerprint)
        if stale:
            raise PoolUnavailable(f"Dask workers {', '.join(stale)} grade with other grading code or hidden checks "
                                  "than this coordinator: build their image from the same commit of the course")
        self.client.run(sandbox.sweep_stale_cgroups)
        isolations = [d["isolation"] for d in found.values()]
        return next((iso for iso in isolations if not iso.ok), isolations[0])

    def submit(self, job: Job) -> futures.Future:
        local: futures.Future = futures.Future()
        try:
            remote = self.client.submit(execute_shipped, self._ship(job), pure=False,
                                        key=f"grade-{job.student}-{job.notebook}-{time.monotonic_ns()}")
        except Exception as error:  # the client closed itself after losing the scheduler
            raise self._lost(error) from None
        self.remote[local] = remote
        remote.add_done_callback(lambda done: self._settle(job, done, local))
        return local

    def _ship(self, job: Job) -> Shipment:
        if job.config_path not in self.config:
            self.config[job.config_path] = Path(job.config_path).read_bytes()
        folder = Path(job.notebook_dir)
        files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
                 if p.is_file() and not p.is_symlink()}
        return Shipment(job, files, self.config[job.config_path], self.fingerprint)

    def _settle(self, job: Job, remote: Any, local: futures.Future) -> None:
        """Turn the Dask future's end into the local future's: an `Executed` of this job, or why the run ends."""
        from distributed.scheduler import KilledWorker

        try:
            if remote.status == "cancelled":
                raise self._lost(None)
            error = remote.exception()
            if isinstance(error, KilledWorker):
                local.set_result(Executed(
                    job.student, job.assignment, job.notebook, None, kernel_died=True,
                    error=f"every Dask worker that ran this notebook died while running it, and the scheduler "
                          f"gives up after that many ({error})"))
                return
            if error is not None:
                raise error
            executed, notebook = remote.result()
            if not isinstance(executed, Executed):
                raise TypeError(f"a worker answered {type(executed).__name__}, not Executed")
            # The coordinator knows which notebook it asked for: the answer never names another one.
            executed.student, executed.assignment, executed.notebook = job.student, job.assignment, job.notebook
            if notebook is not None:
                path = Path(job.notebook_dir) / f"{job.notebook}.executed.ipynb"
                path.write_bytes(notebook)
                executed.path = str(path)
            local.set_result(executed)
        except BaseException as error:  # noqa: BLE001 -- Grader decides: crashed, or the end of the run
            local.set_exception(error)
        finally:
            # The cluster keeps a result while a future refers to it: 80,000 executed notebooks would fill it.
            self.remote.pop(local, None)
            remote.release()

    def _lost(self, error: BaseException | None) -> PoolUnavailable:
        self.lost = True
        return PoolUnavailable(
            f"the Dask scheduler at {self.address} went away" + (f" ({error})" if error else "")
            + ". Every submission graded before that is recorded in the gradebook and in autograded/; rerun the "
            "same command with --resume to grade only the others.")

    def stop(self, future: futures.Future, generation: int | None) -> None:
        """What `workers.Pool.stop` does for a stuck job; never needed here, since these futures never say they
        are running (a queued job may wait far longer than any stall limit). The worker's own time budget ends
        each kernel and check; a worker that stops answering is dropped by the scheduler after `worker-ttl`."""

    def shutdown(self) -> None:
        if self.lost:
            # Closing the client cancels its attempts to reconnect, which log a traceback that says nothing the
            # grader's own message does not.
            logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        with contextlib.suppress(Exception):
            self.client.cancel(list(self.remote.values()))
        with contextlib.suppress(Exception):
            self.client.close()


# --------------------------------------------------------------------------------------------------------------
# A cluster on this machine (tests, the benchmark, trying it out)


@dataclasses.dataclass
class LocalCluster:
    """A `dask scheduler` and `dask worker` processes started by `local_cluster`."""

    address: str
    scheduler: subprocess.Popen
    workers: list[subprocess.Popen]


@contextlib.contextmanager
def local_cluster(workers: int, folder: Path, env: dict[str, str] | None = None,
                  worker_args: tuple[str, ...] = ()) -> Iterator[LocalCluster]:
    """Start a scheduler and `workers` one-thread worker processes (no nanny: a killed worker stays dead) on
    localhost, each a separate process as on a real cluster; stop them all on exit.

    Args:
        workers: How many worker processes.
        folder: Where the scheduler writes its address (`scheduler.json`) and the processes their logs.
        env: Extra environment variables for every process (e.g. `DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES`).
        worker_args: More `dask worker` options (e.g. `--preload FILE`).
    """
    distributed_module()
    folder.mkdir(parents=True, exist_ok=True)
    scheduler_file = folder / "scheduler.json"
    scheduler_file.unlink(missing_ok=True)
    environment = dict(os.environ, **(env or {}))
    environment["PYTHONPATH"] = os.pathsep.join([str(AUTOGRADER), environment.get("PYTHONPATH", "")])
    processes: list[subprocess.Popen] = []

    def start(module: str, *args: str, log: str) -> subprocess.Popen:
        with open(folder / log, "ab") as output:
            process = subprocess.Popen([sys.executable, "-m", f"distributed.cli.{module}", *args], env=environment,
                                       stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
        processes.append(process)
        return process

    try:
        scheduler = start("dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(scheduler_file), log="scheduler.log")
        deadline = time.monotonic() + 60
        while not scheduler_file.exists():
            if scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Dask scheduler did not start: see {folder / 'scheduler.log'}")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        started = [start("dask_worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                         "--name", f"worker-{n}", *worker_args, log=f"worker-{n}.log") for n in range(workers)]
        yield LocalCluster(address, scheduler, started)
    finally:
        for process in processes:
            with contextlib.suppress(OSError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
