"""Reading workers: processes that read and prepare inputs ahead of the encoder, in job order.

Workers only read and prepare images (numpy / deterministic torch ops, one thread each); every
job is :func:`cardiolatent.images.pipeline.prepare_job`.
"""

from __future__ import annotations

import ctypes
import multiprocessing as mp
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from cardiolatent.images.pipeline import prepare_job
from cardiolatent.io_utils import forget_inherited_locks


def _die_with_parent(parent_pid: int) -> None:
    """Linux: have the kernel kill this worker when the main process dies (kill -9 included), so an
    interrupted run leaves no orphaned workers behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)   # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - best effort
        return
    if os.getppid() != parent_pid:                    # the parent died before prctl
        os._exit(1)


def _worker_init(parent_pid: int | None = None) -> None:
    forget_inherited_locks()  # the run's output lock ends with the run, not with its last worker
    if parent_pid is not None:
        _die_with_parent(parent_pid)
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["MKL_NUM_THREADS"] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _mp_context():
    """Start method of the reading workers: fork on Linux (instant start, as torch's DataLoader;
    the workers only read and prepare images and use one thread), spawn elsewhere."""
    if sys.platform.startswith("linux") and "fork" in mp.get_all_start_methods():
        return mp.get_context("fork")
    return mp.get_context("spawn")


class Prefetcher:
    """Runs :func:`prepare_job` over jobs in worker processes, yielding results in job order.

    ``workers=0`` runs the jobs in this process; ``window``: jobs submitted ahead of the one
    being consumed. Closing the iterator (``close()``) shuts the workers down.
    """

    def __init__(self, jobs: list, workers: int, window: int):
        self.jobs = jobs
        self.workers = workers
        self.window = max(1, window)
        self.pool = None

    def __iter__(self):
        if self.workers <= 0:
            for job in self.jobs:
                yield prepare_job(job)
            return
        self.pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=_mp_context(),
                                        initializer=_worker_init, initargs=(os.getpid(),))
        try:
            futures: dict[int, Any] = {}
            nxt = 0
            for i in range(len(self.jobs)):
                while nxt < len(self.jobs) and nxt < i + self.window:
                    futures[nxt] = self.pool.submit(prepare_job, self.jobs[nxt])
                    nxt += 1
                yield futures.pop(i).result()
        finally:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
