"""Start, swap and describe the endpoint: `umair serve` (python -m ray_apps.serve.deploy).

    umair serve --run RUNS/umair_fps --lake LAKE [--port 8000]
    umair serve --run RUNS/other --lake LAKE --address auto --swap   (move a live endpoint to another run)
    umair serve --run RUNS/umair_fps --lake LAKE --write-config serve.yaml   (for `serve deploy` / a RayService)

The run is the Ranker deployment's user_config (ray_apps/serve/app.py), so applying the config again
with another run swaps it in place without dropping a request.
"""

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from ray import serve

from ray_apps.serve.app import APP_NAME
from ray_apps.serve.guard import TOKEN_ENV
from ray_apps.serve.schemas import ServeTarget
from ray_apps.settings import add_address_flag, add_config_file_flag, add_config_flags, config_from_args, setting
from umair_models import storage


@dataclass(frozen=True)
class ReplicaPlacement:
    """How many replicas run and where: `resources` are custom Ray resources each replica also needs
    (replicas go to nodes started with them); at most `per_node` replicas on one node (0: no limit)."""

    replicas: int = 1
    resources: dict[str, float] = field(default_factory=dict)
    per_node: int = 0

    def deployment_options(self) -> dict:
        """The Serve deployment-config keys for this placement (none for the default: one replica anywhere)."""
        options: dict = {}
        if self.replicas != 1:
            options["num_replicas"] = self.replicas
        if self.per_node:
            options["max_replicas_per_node"] = self.per_node
        if self.resources:  # replaces the decorator's ray_actor_options: keep its CPU
            options["ray_actor_options"] = {"num_cpus": 1, "resources": dict(self.resources)}
        return options


def serve_config(run: str, lake: str, access_log: bool = False, placement: ReplicaPlacement | None = None) -> dict:
    """The Serve config `umair serve` applies (the shape of deploy/serve_config.yaml): the run is the
    Ranker's user_config, so applying it again with another run swaps in place (keep the same
    `placement`: a change of replica options replaces the replicas instead)."""
    target = ServeTarget(run=storage.absolute(run), lake=storage.absolute(lake))
    deployment = {
        "name": "Ranker",
        "user_config": target.model_dump(),
        **(placement or ReplicaPlacement()).deployment_options(),
    }
    app = {
        "name": APP_NAME,
        "route_prefix": "/",
        "import_path": "ray_apps.serve.app:ranker",
        "logging_config": {"enable_access_log": access_log},
        "deployments": [deployment],
    }
    return {"applications": [app]}


def _deploy(run: str, lake: str, access_log: bool, placement: ReplicaPlacement | None, timeout_s: float = 300) -> None:
    """Apply serve_config(run, lake) as `serve deploy` would, and wait until every replica serves `run`."""
    from ray.serve.schema import ServeDeploySchema

    _check_run(run, lake)
    _apply(ServeDeploySchema.model_validate(serve_config(run, lake, access_log, placement)), run, timeout_s)


def _check_run(run: str, lake: str) -> None:
    """Load the run and build its serving export here first, so a wrong path fails in this process with
    the file's name, not in a replica."""
    from ray_apps.artifacts import load_ranker
    from ray_apps.serve import export

    load_ranker(run)
    export.ensure(run, lake, publish=True)


def _serve_client():
    from ray.serve.context import _get_global_client  # what `serve deploy` / `serve run CONFIG` use

    client = _get_global_client()
    if client is None:
        raise RuntimeError("Serve is not running on this Ray cluster (start the endpoint first)")
    return client


def _apply(config, run: str, timeout_s: float) -> None:
    """Deploy `config` (a ServeDeploySchema) and wait until sampled replicas serve `run`."""
    from ray.serve.schema import ApplicationStatus

    _serve_client().deploy_apps(config)
    wanted = storage.absolute(run)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = serve.status().applications.get(APP_NAME)
        if status is not None and status.status == ApplicationStatus.RUNNING:
            handle = serve.get_app_handle(APP_NAME)
            answers = [handle.serving.remote().result() for _ in range(4)]  # a sample of the replicas
            if all(a["run"] == wanted for a in answers):
                return
            if any(a["swap_error"] and wanted in a["swap_error"] for a in answers):
                raise RuntimeError(next(a["swap_error"] for a in answers if a["swap_error"]))
        time.sleep(0.2)
    raise TimeoutError(f"the endpoint did not serve {wanted} within {timeout_s:g} s (see `serve status`)")


def swap_keeping_settings(run: str, lake: str, address: str | None = None, timeout_s: float = 300) -> None:
    """Swap the running endpoint to `run` keeping every other setting it was deployed with (replicas,
    placement, access log): only the Ranker's user_config changes, so the swap is in place (drops nothing).
    What promotion and rollback use: they do not know how the endpoint was started."""
    from ray.serve.schema import ServeDeploySchema

    from ray_apps.console import quiet_libraries
    from ray_apps.runtime import init_ray

    init_ray(address)
    quiet_libraries()
    deployed = (_serve_client().get_serve_details().get("applications", {}).get(APP_NAME) or {}).get(
        "deployed_app_config"
    )
    if not deployed:
        raise RuntimeError(f"no `{APP_NAME}` endpoint is running on this Ray cluster (start it with `umair serve`)")
    _check_run(run, lake)
    target = ServeTarget(run=storage.absolute(run), lake=storage.absolute(lake)).model_dump()
    app = dict(deployed)
    app["deployments"] = [
        {**d, "user_config": target} if d.get("name") == "Ranker" else d for d in deployed.get("deployments", [])
    ]
    _apply(ServeDeploySchema.model_validate({"applications": [app]}), run, timeout_s)  # as `_deploy` does


def start(
    run: str,
    lake: str,
    port: int = 8000,
    address: str | None = None,
    access_log: bool = False,
    placement: ReplicaPlacement | None = None,
    proxy_location: str = "EveryNode",
    host: str = "127.0.0.1",
) -> str:
    """Start Serve on host:port with the ranker app; -> its base URL (on 127.0.0.1).

    Per-request access-log lines are off unless `access_log`: on a small machine writing and
    forwarding one log line per request costs a visible share of the CPU the replica needs.
    """
    from ray_apps.console import quiet_libraries
    from ray_apps.runtime import init_ray

    init_ray(address)
    quiet_libraries()  # Ray Serve's logger exists once serve is imported
    logs = {"enable_access_log": access_log}
    serve.start(  # the proxy's own access log too
        http_options={"host": host, "port": port}, logging_config=logs, proxy_location=proxy_location
    )
    _deploy(run, lake, access_log, placement)
    return f"http://127.0.0.1:{port}"


def swap(
    run: str,
    lake: str,
    address: str | None = None,
    access_log: bool = False,
    placement: ReplicaPlacement | None = None,
) -> None:
    """Move the running endpoint to another run without dropping a request: the new run becomes the
    Ranker's user_config, each replica loads it beside the old one and swaps (Ranker.reconfigure).
    Returns when every replica serves it. `placement`: the one the endpoint was started with."""
    from ray_apps.console import quiet_libraries
    from ray_apps.runtime import init_ray

    init_ray(address)
    quiet_libraries()
    _deploy(run, lake, access_log, placement)


@dataclass
class ServeOptions:
    run: str = setting(help="a run folder written by `umair train` (has model.safetensors)")
    lake: str = setting(help="the lake the run was trained on (feature tables, item vectors)")
    port: int = setting(8000, "HTTP port of the proxies")
    host: str = setting("127.0.0.1", "address the proxies bind (0.0.0.0 takes traffic from other machines)")
    access_log: bool = setting(False, "log one line per request (off by default: it costs CPU per request)")
    swap: bool = setting(
        False, "move the endpoint already serving on the Ray cluster at --address to this run (drops nothing), exit"
    )
    replicas: int = setting(1, "replicas of the ranker")
    replica_resources: dict[str, float] = setting(
        {}, "custom Ray resources each replica also needs, e.g. '{serving: 1}': replicas go to nodes that have them"
    )
    replicas_per_node: int = setting(
        0, "at most this many replicas on one node (0: no limit); with --replicas 2, 1 keeps one serving if a node dies"
    )
    proxy_location: str = setting("EveryNode", "where Serve runs its HTTP proxies", choices=("EveryNode", "HeadOnly"))
    write_config: str = setting(
        "", "write this endpoint's Serve config to FILE (for `serve deploy` or a RayService) and exit; starts nothing"
    )

    def placement(self) -> ReplicaPlacement:
        return ReplicaPlacement(self.replicas, dict(self.replica_resources), self.replicas_per_node)

    def deploy_config(self) -> dict:
        """The whole file `serve deploy` takes: proxies, HTTP options and the application."""
        app = serve_config(self.run, self.lake, self.access_log, self.placement())
        return {
            "proxy_location": self.proxy_location,
            "http_options": {"host": self.host, "port": self.port},
            **app,
        }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Serve a trained ranker over HTTP (Ray Serve).")
    add_config_flags(p, ServeOptions)
    add_config_file_flag(p, "serve")
    add_address_flag(p)
    return p


def main(argv: list[str] | None = None) -> int:
    from ray_apps.console import setup_console

    a = build_parser().parse_args(argv)
    setup_console()
    o = config_from_args(ServeOptions, a, "serve")
    if o.write_config:
        import yaml

        Path(o.write_config).write_text(yaml.safe_dump(o.deploy_config(), sort_keys=False))
        print(f"Serve config written to {o.write_config}: serve deploy {o.write_config} --address http://HEAD:8265")
        return 0
    if o.swap:
        swap(o.run, o.lake, a.address, access_log=o.access_log, placement=o.placement())
        print(f"The endpoint now serves {o.run} (GET /v1/model shows the run).")
        return 0
    url = start(o.run, o.lake, o.port, a.address, o.access_log, o.placement(), o.proxy_location, o.host)
    rank = '{"user_id": "1000001", "illust_ids": ["80000010", "80000020"]}'
    json_header = "-H 'content-type: application/json'"
    print(
        f"Serving {o.run} at {url} (Ctrl-C stops). Try:\n"
        f"  curl -s {url}/healthz\n"
        f"  curl -s -X POST {url}/v1/rank {json_header} -d '{rank}'\n"
        f"""  curl -s -X POST {url}/v1/recommend {json_header} -d '{{"user_id": "1000001", "k": 5}}'"""
    )
    if os.environ.get(TOKEN_ENV):
        print(f"{TOKEN_ENV} is set: add -H 'authorization: Bearer ${TOKEN_ENV}' (all but /healthz need it).")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        serve.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
