"""Dask clusters for cardiolatent: parse the cluster options, connect a client, map over chunks.

The command-line options (``assoc`` and ``cox`` today)::

    --cluster local:N                      N worker processes on this machine (LocalCluster,
                                           processes=True, one thread each)
    --scheduler tcp://HOST:PORT            a running Dask scheduler (its workers must have
                                           cardiolatent installed and see the same files)
    --cluster slurm --cluster-config F     a dask-jobqueue SLURMCluster from the TOML file F

``cluster.toml`` keys (all optional except ``cores`` and ``memory``)::

    cores = 8            # CPU cores per job (sbatch --cpus-per-task)
    memory = "32GB"      # memory per job (sbatch --mem)
    walltime = "02:00:00"
    gpus = 1             # GPUs per job: --gres=gpu:K
    processes = 1        # Dask worker processes per job (default: one per GPU, else 1)
    queue = "short"      # sbatch -p
    account = "mygroup"  # sbatch -A
    jobs = 4             # jobs submitted (workers = jobs x processes)

An unknown key is an error (naming the file and the key); nothing secret belongs in it.

:func:`map_chunks` sends the shared inputs (design matrix, outcomes) to every worker once
(``client.scatter(..., broadcast=True)``), sends each chunk once, maps ``fn(chunk, shared)`` over
the chunks and returns the results in the chunks' order. :func:`chunk_mapper` wraps it as the
``chunk_map(fn, chunks, shared)`` callable the analysis functions take.

dask is optional: without it this module imports (``HAVE_DASK`` is False) and
:func:`require_dask` raises the one-line install message.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from cardiolatent.errors import CardiolatentError

try:
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib

try:  # the optional extra cardiolatent[dask]
    import dask
    from distributed import Client, LocalCluster, as_completed
    HAVE_DASK = True
except ImportError:  # pragma: no cover - exercised by monkeypatching HAVE_DASK
    dask = Client = LocalCluster = as_completed = None
    HAVE_DASK = False

try:
    from dask_jobqueue import SLURMCluster
    HAVE_JOBQUEUE = True
except ImportError:  # pragma: no cover
    SLURMCluster = None
    HAVE_JOBQUEUE = False

__all__ = ["HAVE_DASK", "INSTALL_MESSAGE", "ClusterSpec", "parse_cluster", "require_dask", "read_cluster_config",
           "slurm_cluster", "connect", "map_chunks", "chunk_mapper", "submit_each", "n_workers_of",
           "NO_DAEMON_PROLOGUE"]

INSTALL_MESSAGE = "--cluster needs the optional dependencies: pip install 'cardiolatent[dask]'"

#: cluster.toml keys and their types
CONFIG_KEYS = {"cores": int, "memory": str, "walltime": str, "gpus": int, "processes": int, "queue": str,
               "account": str, "jobs": int}
_REQUIRED = ("cores", "memory")


@dataclass
class ClusterSpec:
    """A parsed cluster request: ``kind`` is ``local`` (``workers`` processes), ``scheduler``
    (``address``) or ``slurm`` (``config`` from ``config_path``)."""

    kind: str
    workers: int = 0
    address: str | None = None
    config: dict = field(default_factory=dict)
    config_path: str | None = None

    def describe(self) -> str:
        if self.kind == "local":
            return f"a local Dask cluster of {self.workers} worker processes"
        if self.kind == "scheduler":
            return f"the Dask scheduler at {self.address}"
        c = self.config
        return (f"a SLURM Dask cluster ({c.get('jobs', 1)} job(s) of {c['cores']} cores, {c['memory']}"
                + (f", {c['gpus']} GPU(s)" if c.get("gpus") else "") + ")")


def require_dask(*, jobqueue: bool = False) -> None:
    """Raise the one-line install message when dask (or dask-jobqueue) is not installed."""
    if not HAVE_DASK or (jobqueue and not HAVE_JOBQUEUE):
        raise CardiolatentError(INSTALL_MESSAGE)


def parse_cluster(cluster: str | None, scheduler: str | None = None,
                  cluster_config: str | None = None) -> ClusterSpec | None:
    """The options ``--cluster``, ``--scheduler``, ``--cluster-config`` checked and parsed; None when
    none is given (work in this process). Raises :class:`CardiolatentError` naming the option."""
    if cluster is None and scheduler is None:
        if cluster_config is not None:
            raise CardiolatentError("--cluster-config is used with --cluster slurm; give --cluster slurm too")
        return None
    if cluster is not None and scheduler is not None:
        raise CardiolatentError("give either --cluster or --scheduler, not both")
    if scheduler is not None:
        if cluster_config is not None:
            raise CardiolatentError("--cluster-config is used with --cluster slurm, not with --scheduler")
        if not re.fullmatch(r"(tcp|tls|ucx|ws|wss)://[^\s:/]+:\d+/?", scheduler.strip()):
            raise CardiolatentError(f"--scheduler must be an address like tcp://HOST:PORT, not {scheduler!r}")
        require_dask()
        return ClusterSpec("scheduler", address=scheduler.strip())
    text = cluster.strip()
    m = re.fullmatch(r"local:(-?\d+)", text)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise CardiolatentError(f"--cluster local:N needs N >= 1 worker processes, not {text!r}")
        if cluster_config is not None:
            raise CardiolatentError("--cluster-config is used with --cluster slurm, not with --cluster local:N")
        require_dask()
        return ClusterSpec("local", workers=n)
    if text == "slurm":
        if cluster_config is None:
            raise CardiolatentError("--cluster slurm needs --cluster-config cluster.toml (cores, memory, walltime, "
                                    "gpus, queue, account, jobs)")
        config = read_cluster_config(cluster_config)
        require_dask(jobqueue=True)
        return ClusterSpec("slurm", config=config, config_path=str(cluster_config))
    raise CardiolatentError(f"--cluster must be local:N or slurm (with --cluster-config), not {cluster!r}; "
                            "for a running scheduler use --scheduler tcp://HOST:PORT")


def read_cluster_config(path: str | Path) -> dict:
    """``cluster.toml`` read and checked: known keys of the right type, positive counts."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardiolatentError(f"--cluster-config {p}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise CardiolatentError(f"--cluster-config {p}: not a TOML file ({str(e).splitlines()[0]})") from None
    unknown = sorted(set(raw) - set(CONFIG_KEYS))
    if unknown:
        raise CardiolatentError(f"--cluster-config {p}: unknown key(s) {', '.join(unknown)}; "
                                f"known: {', '.join(CONFIG_KEYS)}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise CardiolatentError(f"--cluster-config {p}: missing {', '.join(missing)} (cores per job, memory per "
                                "job such as \"32GB\")")
    for k, v in raw.items():
        want = CONFIG_KEYS[k]
        if not isinstance(v, want) or isinstance(v, bool):
            raise CardiolatentError(f"--cluster-config {p}: {k} must be {'an integer' if want is int else 'a string'}, "
                                    f"not {v!r}")
        if want is int and (v < 1 if k != "gpus" else v < 0):
            raise CardiolatentError(f"--cluster-config {p}: {k} must be {'0 or more' if k == 'gpus' else '1 or more'}, "
                                    f"not {v}")
    return dict(raw)


def slurm_cluster(config: dict, **kwargs) -> Any:
    """A dask-jobqueue ``SLURMCluster`` for ``config`` (see the module docstring); no job is
    submitted until it is scaled (:func:`connect` scales it to ``jobs``). With ``gpus`` one worker
    process per GPU (unless ``processes`` says otherwise) and ``--gres=gpu:K`` in the job script."""
    require_dask(jobqueue=True)
    gpus = int(config.get("gpus", 0))
    extra = [f"--gres=gpu:{gpus}"] if gpus else []
    processes = int(config.get("processes", gpus or 1))
    kw = dict(cores=int(config["cores"]), memory=str(config["memory"]), processes=processes,
              job_extra_directives=extra, silence_logs="error")
    for key in ("walltime", "queue", "account"):
        if key in config:
            kw[key] = config[key]
    kw.update(kwargs)
    return SLURMCluster(**kw)


#: job-script line that lets SLURM workers start processes of their own (``encode``'s reading workers)
NO_DAEMON_PROLOGUE = "export DASK_DISTRIBUTED__WORKER__DAEMON=False"


@contextlib.contextmanager
def connect(spec: ClusterSpec, *, quiet: bool = False, daemon: bool = True) -> Iterator[Any]:
    """A ``distributed.Client`` for ``spec``, closed (with the cluster it started) on exit.

    ``daemon=False``: the worker processes this starts (``local``, ``slurm``) are not daemonic, so
    a task may start processes of its own (``encode``'s reading workers); a worker started by
    hand for ``--scheduler`` decides for itself (``DASK_DISTRIBUTED__WORKER__DAEMON=False``).
    """
    require_dask(jobqueue=spec.kind == "slurm")
    cluster = None
    try:
        if spec.kind == "local":
            with dask.config.set({"distributed.worker.daemon": bool(daemon)}):
                cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
            client = Client(cluster)
        elif spec.kind == "slurm":
            cluster = slurm_cluster(spec.config, **({} if daemon else {"job_script_prologue": [NO_DAEMON_PROLOGUE]}))
            cluster.scale(jobs=int(spec.config.get("jobs", 1)))
            client = Client(cluster)
        else:
            try:
                client = Client(spec.address, timeout="30s")
            except OSError as e:
                raise CardiolatentError(f"--scheduler {spec.address}: cannot connect ({e})") from None
    except BaseException:
        if cluster is not None:
            cluster.close()
        raise
    if not quiet:
        link = getattr(client, "dashboard_link", None)
        print(f"using {spec.describe()}" + (f"; dashboard {link}" if link else ""))
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def map_chunks(fn: Callable, chunks: Sequence, client: Any, *, shared: Any = None) -> list:
    """``[fn(chunk, shared) for chunk in chunks]`` on the workers of ``client``, in the chunks' order.

    ``shared`` (the design matrix, outcomes, names: whatever every chunk needs) is sent to every
    worker once (``scatter(broadcast=True)``), each chunk once; ``fn`` must be picklable (a
    module-level function) and importable on the workers. An exception on a worker is raised here.
    """
    chunks = list(chunks)
    if not chunks:
        return []
    shared_f = client.scatter([shared], broadcast=True)[0]
    chunk_f = client.scatter(chunks)
    futures = client.map(fn, chunk_f, [shared_f] * len(chunks), pure=False)
    return client.gather(futures)


def chunk_mapper(client: Any) -> Callable[[Callable, Sequence, Any], list]:
    """The ``chunk_map(fn, chunks, shared)`` callable of the analysis functions, on ``client``."""

    def chunk_map(fn, chunks, shared):
        return map_chunks(fn, chunks, client, shared=shared)

    return chunk_map



def n_workers_of(spec: ClusterSpec, client: Any) -> int:
    """Worker processes the cluster of ``spec`` has or will have: N for ``local:N``, jobs x
    processes for SLURM (jobs may still be queued), the workers connected now for ``--scheduler``
    (at least 1)."""
    if spec.kind == "local":
        return int(spec.workers)
    if spec.kind == "slurm":
        c = spec.config
        return int(c.get("jobs", 1)) * int(c.get("processes", c.get("gpus", 0) or 1))
    return max(1, len(client.scheduler_info().get("workers", {})))


def submit_each(fn: Callable, jobs: Sequence, client: Any, *, shared: Any = None, retries: int = 2,
                key_prefix: str = "cardiolatent") -> Iterator[tuple[int, Any]]:
    """Run ``fn(job, shared)`` for every job on the workers of ``client``; yield ``(index, result)``
    as each finishes (in finishing order, not the jobs' order).

    ``shared`` is sent to every worker once (``scatter(broadcast=True)``). A task whose worker dies
    is rescheduled by the scheduler (``distributed.scheduler.allowed-failures`` times); one that
    raises is retried ``retries`` times, then its exception is raised here and the other tasks are
    cancelled. ``fn`` must be a module-level function importable on the workers.
    """
    jobs = list(jobs)
    if not jobs:
        return
    shared_f = client.scatter([shared], broadcast=True)[0]
    token = dask.base.tokenize(key_prefix, jobs, shared_f.key)
    futures = [client.submit(fn, job, shared_f, pure=False, retries=retries, key=f"{key_prefix}-{i}-{token}")
               for i, job in enumerate(jobs)]
    index = {f.key: i for i, f in enumerate(futures)}
    try:
        for fut in as_completed(futures):
            yield index[fut.key], fut.result()
    finally:
        client.cancel([f for f in futures if not f.done()])
