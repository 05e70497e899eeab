"""The grading worker processes: a pool that survives a worker's death and blames only the job that caused it.

Workers are forked from a server that imported the heavy modules once, live for the whole batch, and run
`grading.execution.execute_job`. Each has an address-space limit, so no notebook's outputs can swell a worker
until the kernel's out-of-memory killer takes a classmate's job down.
"""

from __future__ import annotations

import concurrent.futures as futures
import contextlib
import multiprocessing
import os
import resource
import signal
from concurrent.futures.process import BrokenProcessPool

from grading import sandbox
from grading.execution import Job, execute_job

MIB = 1 << 20
# Address space of a grading worker (not its kernel, which has the sandbox's own limits): a worker peaks near
# 0.6 GiB of address space, and one output message is at most `kernel_manager.MAX_MESSAGE_BYTES`.
WORKER_MEMORY_BYTES = 2 * 1024 * MIB


class PoolUnavailable(RuntimeError):
    """The pool can run no more jobs (a Dask scheduler that cannot be reached or went away, `grading.dask_pool`):
    the run stops, and what was recorded so far stays."""


def worker_init() -> None:
    """Each worker: ignore Ctrl-C (the main process handles it), cap its memory, and warm the imports up once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard == resource.RLIM_INFINITY or hard > WORKER_MEMORY_BYTES:
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_BYTES, WORKER_MEMORY_BYTES))
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
    import nbclient  # noqa: F401
    import nbgrader.preprocessors  # noqa: F401


def _warm() -> int:
    return os.getpid()


class Pool:
    """The worker processes, forked from a server that imported the heavy modules once.

    Each worker has an address-space limit (`WORKER_MEMORY_BYTES`), so a notebook whose outputs would swell a
    worker fails on its own instead of calling the kernel's out-of-memory killer on its neighbours. When a
    worker dies anyway, the pool is rebuilt and every job it held becomes a suspect: each runs again alone, in
    a one-worker pool of its own, so a death can only be blamed on the job that caused it.
    """

    PRELOAD = ["grading.execution", "grading.sandbox", "nbclient", "nbgrader.preprocessors", "jupyter_client.manager"]

    def __init__(self, workers: int):
        self.workers = workers
        self.generation = 0
        self.pool = self._new(workers)
        self.alone: dict[futures.Future, futures.ProcessPoolExecutor] = {}

    @classmethod
    def _new(cls, workers: int) -> futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(cls.PRELOAD)
        return futures.ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=worker_init)

    def warm_up(self) -> None:
        """Start every worker now (each import happens once, in the fork server), while the main process
        reads the config, the gradebook and the submissions."""
        for _ in range(self.workers):
            self.pool.submit(_warm)

    def submit(self, job: Job) -> futures.Future:
        try:
            return self.pool.submit(execute_job, job)
        except BrokenProcessPool:
            self.restart(self.generation)
            return self.pool.submit(execute_job, job)

    def isolate(self, job: Job) -> futures.Future:
        """Run `job` alone in a one-worker pool of its own, closed when the job ends."""
        alone = self._new(1)
        future = alone.submit(execute_job, job)
        self.alone[future] = alone
        future.add_done_callback(lambda done: self.alone.pop(done, alone).shutdown(wait=False))
        return future

    def stop(self, future: futures.Future, generation: int | None) -> None:
        """Kill the worker processes that may be running `future` (a stuck job). In the shared pool this breaks
        its other jobs too, which then run again alone, as after any worker death."""
        executor = self.alone.get(future) if generation is None else self.pool
        if executor is None or (generation is not None and generation != self.generation):
            return
        for process in list(getattr(executor, "_processes", {}).values()):
            with contextlib.suppress(OSError, ValueError):
                process.kill()

    def restart(self, generation: int) -> None:
        """Replace the pool, once per breakage (every future of a broken pool reports it)."""
        if generation != self.generation:
            return
        self.pool.shutdown(wait=False, cancel_futures=True)
        sandbox.sweep_stale_cgroups()
        self.pool = self._new(self.workers)
        self.generation += 1

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
