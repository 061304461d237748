"""How every Ray app starts Ray, and how it shares the machine's CPUs between training workers and
concurrent runs. Ray's worker processes log to Ray's own session folder instead of forwarding every
line to the driver (ray_apps/console.py has the console side)."""

from __future__ import annotations

import os

from ray_apps.console import log, quiet_libraries

# Serve's HTTP proxy calls this for middlewares: bad and over-limit requests are answered there, before a
# replica (ray_apps.serve.proxy_shedding). Read by the proxy actor from its environment.
PROXY_CALLBACK_ENV = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
PROXY_CALLBACK = "ray_apps.serve.proxy_shedding:middlewares"


def default_proxy_callback() -> None:
    """Before a local Ray starts: its Serve proxies shed with ours unless the environment names another
    callback (or sets it empty: none)."""
    os.environ.setdefault(PROXY_CALLBACK_ENV, PROXY_CALLBACK)


def init_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Connect to `address` (or RAY_ADDRESS, e.g. under `ray job submit`), else start a local Ray.

    Worker processes log to Ray's session folder (printed once); set UMAIR_RAY_LOG_TO_DRIVER=1 to
    see every worker's output on the console while debugging. Ray Data's progress bars are off:
    the apps print their own progress; its scheduling loop pauses between steps (`data_pause`).
    """
    import ray
    import ray.data

    from ray_apps import data_pause

    data_pause.install(ray.data.DataContext.get_current())  # Ray Data's loop must not spin while training lags
    if ray.is_initialized():
        return
    quiet_libraries()  # Ray and Ray Data set up their console loggers on import
    address = address or os.environ.get("RAY_ADDRESS")
    to_driver = os.environ.get("UMAIR_RAY_LOG_TO_DRIVER") == "1"
    if address:
        ray.init(address=address, log_to_driver=to_driver)
    else:
        default_proxy_callback()
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=to_driver)
    from ray.data import DataContext

    DataContext.get_current().enable_progress_bars = False
    quiet_libraries()
    node = getattr(ray._private.worker, "_global_node", None)  # noqa: SLF001 - the documented way to find the session
    if node is not None:
        log.info("Ray worker logs: %s", node.get_logs_dir_path())


def worker_resources(num_workers: int, use_gpu: bool, concurrent_runs: int = 1) -> dict[str, float] | None:
    """CPUs per training worker that leave one CPU for Ray Data's read / transform tasks.

    On a big cluster each worker gets a whole CPU (None = Ray's default); on a small CPU-only
    machine (e.g. 2 cores) the workers of all `concurrent_runs` runs share what is left, otherwise
    data tasks never get a CPU and the job deadlocks.
    """
    import ray

    total, workers = ray.cluster_resources().get("CPU", 1.0), num_workers * max(1, concurrent_runs)
    if use_gpu or total - workers >= 1:
        return None
    return {"CPU": max(0.1, round((total - 1) / workers, 2))}


def torch_threads(num_workers: int, use_gpu: bool, concurrent_runs: int = 1) -> int:
    """Intra-op threads for each CPU training worker: a node's CPUs shared by the workers of all
    `concurrent_runs` runs.

    Ray sets OMP_NUM_THREADS=1 in workers; on a CPU-only machine that leaves cores idle.
    """
    import ray

    if use_gpu:
        return 1
    total = int(ray.cluster_resources().get("CPU", 1))
    nodes = max(1, len([n for n in ray.nodes() if n.get("Alive")]))
    return max(1, total // nodes // max(1, num_workers * max(1, concurrent_runs)))
