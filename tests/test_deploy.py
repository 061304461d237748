"""Deployment files parse, name entry points that exist, and ask for consistent resources."""

from __future__ import annotations

import importlib
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def _containers(pod_template: dict) -> list[dict]:
    return pod_template["spec"]["containers"]


def _groups(cluster: dict) -> list[dict]:
    return [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]


def _check_cluster(cluster: dict, needs_gpu: bool) -> None:
    gpus = 0
    for group in _groups(cluster):
        for c in _containers(group["template"]):
            req, lim = c["resources"]["requests"], c["resources"]["limits"]
            assert req == lim, f"{c['name']}: requests and limits differ"
            gpu = int(req.get("nvidia.com/gpu", 0))
            assert gpu == int(group.get("rayStartParams", {}).get("num-gpus", 0)), (
                f"{group.get('groupName')}: num-gpus != GPU request"
            )
            gpus += gpu * group.get("replicas", 1)
        if "minReplicas" in group:
            assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
    if needs_gpu:
        assert gpus > 0, "the app asks for GPUs but no group provides one"


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.glob("kuberay/**/rayjob-*.yaml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_rayjob_entrypoints_exist_and_parse(path):
    job = yaml.safe_load(path.read_text())
    assert job["kind"] == "RayJob"
    argv = shlex.split(job["spec"]["entrypoint"])
    assert argv[:2] == ["python", "-m"]
    module = importlib.import_module(argv[2])
    args = module.build_parser().parse_args(argv[3:])  # the flags the manifest passes are ones the app accepts
    _check_cluster(job["spec"]["rayClusterSpec"], needs_gpu=getattr(args, "use_gpu", False))


def test_raycluster_has_cpu_and_gpu_groups():
    cluster = yaml.safe_load((DEPLOY / "kuberay/raycluster.yaml").read_text())["spec"]
    names = {g["groupName"] for g in cluster["workerGroupSpecs"]}
    assert {"cpu", "gpu"} <= names
    _check_cluster(cluster, needs_gpu=True)


def test_serve_configs_import_the_app_carry_the_run_as_user_config_and_let_batches_fill():
    from ray import serve
    from ray.serve.schema import ServeDeploySchema

    from ray_apps.serve.app import BATCH_SIZE
    from ray_apps.serve.deploy import serve_config
    from ray_apps.serve.schemas import ServeTarget

    services = [yaml.safe_load(p.read_text()) for p in DEPLOY.glob("kuberay/**/rayservice.yaml")]
    assert len(services) == 2  # the shared-volume one and the object-store one
    for config in (
        yaml.safe_load((DEPLOY / "serve_config.yaml").read_text()),
        *[yaml.safe_load(service["spec"]["serveConfigV2"]) for service in services],
        serve_config("runs/umair_fps", "lake"),  # what `umair serve` applies
        serve_config("s3://bucket/runs/umair_fps", "s3://bucket/lake"),
    ):
        ServeDeploySchema.model_validate(config)  # what `serve deploy` itself checks
        app = config["applications"][0]
        module, attr = app["import_path"].split(":")
        assert isinstance(getattr(importlib.import_module(module), attr), serve.Application)
        deployment = app["deployments"][0]
        assert deployment["name"] == "Ranker" and "args" not in app
        ServeTarget(**deployment["user_config"])  # the run and lake: swapped in place when changed
        assert deployment.get("max_ongoing_requests", BATCH_SIZE) >= BATCH_SIZE
        auto = deployment.get("autoscaling_config", {"min_replicas": 1, "max_replicas": 1})
        assert auto["min_replicas"] <= auto["max_replicas"]
    for service in services:
        _check_cluster(service["spec"]["rayClusterConfig"], needs_gpu=False)


@pytest.mark.parametrize(
    "path", sorted(DEPLOY.glob("kuberay/**/rayservice.yaml")), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_rayservice_takes_the_bearer_token_from_a_secret_and_sheds_in_the_proxy_on_every_node(path):
    from ray_apps.runtime import PROXY_CALLBACK, PROXY_CALLBACK_ENV
    from ray_apps.serve.guard import TOKEN_ENV

    cluster = yaml.safe_load(path.read_text())["spec"]["rayClusterConfig"]
    for group in _groups(cluster):
        (container,) = _containers(group["template"])
        (token,) = [e for e in container["env"] if e["name"] == TOKEN_ENV]
        assert token["valueFrom"]["secretKeyRef"]["name"] == "umair-serve-token" and "value" not in token
        (callback,) = [e for e in container["env"] if e["name"] == PROXY_CALLBACK_ENV]
        assert callback["value"] == PROXY_CALLBACK
    module, function = PROXY_CALLBACK.split(":")
    assert getattr(importlib.import_module(module), function)()  # what Serve's proxy will call


def _locations(manifest: dict) -> list[str]:
    """Every lake / runs / models / run location a manifest hands the apps."""
    if manifest["kind"] == "RayJob":
        argv = shlex.split(manifest["spec"]["entrypoint"])
        return [argv[i + 1] for i, a in enumerate(argv) if a in ("--lake", "--runs", "--models", "--out", "--run")]
    target = yaml.safe_load(manifest["spec"]["serveConfigV2"])["applications"][0]["deployments"][0]["user_config"]
    return [target["run"], target["lake"]]


@pytest.mark.parametrize("path", sorted(DEPLOY.glob("kuberay/object-store/*.yaml")), ids=lambda p: p.name)
def test_object_store_manifests_use_uris_and_credentials_from_a_secret_and_mount_no_volume(path):
    manifest = yaml.safe_load(path.read_text())
    locations = _locations(manifest)
    assert locations and all(loc.startswith("s3://") for loc in locations), locations
    cluster = manifest["spec"].get("rayClusterSpec") or manifest["spec"]["rayClusterConfig"]
    for group in _groups(cluster):
        assert "volumes" not in group["template"]["spec"]
        for container in _containers(group["template"]):
            assert "volumeMounts" not in container
            assert {"secretRef": {"name": "umair-object-store"}} in container["envFrom"]
    assert len(list(DEPLOY.glob("kuberay/object-store/*.yaml"))) == 3  # embed, train, serve


def test_dockerfile_copies_what_exists_and_configs_load():
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY"):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    from spark_jobs.config import PrepConfig

    assert PrepConfig.from_yaml(DEPLOY / "configs/prep.yaml") == PrepConfig()
    assert (DEPLOY / "spark/submit.sh").stat().st_mode & 0o111


def test_cli_lists_every_subcommand_and_each_has_help(capsys):
    from ray_apps.cli import SUBCOMMANDS, main

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, (module, _) in SUBCOMMANDS.items():
        assert name in out
        path, _, attr = module.partition(":")
        assert hasattr(importlib.import_module(path), attr or "main")
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
    with pytest.raises(SystemExit):
        main(["no-such-command"])


def test_the_movielens_tables_example_is_a_valid_featurize_config(tmp_path):
    from spark_jobs.featurize_config import FeaturizeConfig

    config = FeaturizeConfig.from_yaml(DEPLOY / "configs/tables_movielens.yaml", tmp_path)
    assert config.interactions.paths(Path(config.root)) == {"all": str(tmp_path / "u.data")}
    assert config.label.parsed() == (">=", 4.0) and config.split.by == "time"
    kinds = {f.name: (f.kind, f.group) for f in config.features}
    assert kinds["genres"] == ("multi_categorical", "item") and kinds["user_id"] == ("categorical", "user")


def test_the_example_dataset_spec_is_a_valid_spec():
    from umair_models import dataset_spec

    path = DEPLOY / "configs/dataset_ctr_example.yaml"
    spec = dataset_spec.parse(path.read_text(), str(path))
    features = dataset_spec.feature_spec(spec, {}, str(path))
    assert [f.name for f in features.fields] == ["C1", "C2", "C3", "I1"] and spec.label == "clicked"


def test_the_dashboard_queries_only_metrics_the_endpoint_and_training_export_and_prometheus_scrapes_them():
    import json
    import re

    from ray_apps.metrics import PREFIX
    from ray_apps.ranker.train_metrics import EXPORTED as TRAINING
    from ray_apps.serve.metrics import EXPORTED as SERVING

    EXPORTED = {**SERVING, **TRAINING}

    dashboard = json.loads((DEPLOY / "observability/grafana-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b" + PREFIX + r"umair_\w+", target["expr"])
    }
    assert len(dashboard["panels"]) >= 8 and len(queried) >= 10
    assert {"umair_train_samples_per_second", "umair_valid_auc"} <= {q.removeprefix(PREFIX) for q in queried}
    for name in queried:
        base = re.sub(r"_(bucket|sum|count)$", "", name.removeprefix(PREFIX))
        kind = EXPORTED.get(base) or EXPORTED.get(name.removeprefix(PREFIX))
        assert kind, f"the dashboard queries {name}, which the code does not export"
        assert (base != name.removeprefix(PREFIX)) == (kind == "histogram"), f"{name}: a {kind} has no such series"
    monitor = yaml.safe_load((DEPLOY / "observability/podmonitor.yaml").read_text())
    port = monitor["spec"]["podMetricsEndpoints"][0]["port"]
    service = yaml.safe_load((DEPLOY / "kuberay/rayservice.yaml").read_text())["spec"]["rayClusterConfig"]
    groups = [service["headGroupSpec"], *service["workerGroupSpecs"]]
    for group in groups:  # every Ray node exports on the port the monitor scrapes
        ports = {p["name"]: p["containerPort"] for p in group["template"]["spec"]["containers"][0]["ports"]}
        assert str(ports[port]) == group["rayStartParams"]["metrics-export-port"]


def test_the_daily_schedules_submit_the_cycle_onto_the_endpoints_cluster_and_the_ingest_through_spark_submit():
    from ray_apps.lifecycle import cycle
    from spark_jobs import ingest

    docs = {d["kind"]: d for d in yaml.safe_load_all((DEPLOY / "schedules/daily-cycle.yaml").read_text())}
    rayjob = yaml.safe_load(docs["ConfigMap"]["data"]["rayjob-cycle.yaml"])
    assert rayjob["kind"] == "RayJob" and "rayClusterSpec" not in rayjob["spec"]  # runs on the endpoint's cluster
    argv = shlex.split(rayjob["spec"]["entrypoint"])
    assert argv[:3] == ["python", "-m", "ray_apps.lifecycle.cycle"]
    args = cycle.build_parser().parse_args(argv[3:])
    assert args.address == "auto" and args.raw is None  # ingest is the data team's spark-submit
    service = yaml.safe_load((DEPLOY / "kuberay/rayservice.yaml").read_text())["metadata"]["name"]
    cron = docs["CronJob"]["spec"]
    script = cron["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert f"get rayservice {service} " in script and "RAY_CLUSTER_NAME" in script
    assert rayjob["spec"]["clusterSelector"]["ray.io/cluster"] == "RAY_CLUSTER_NAME"
    assert cron["concurrencyPolicy"] == "Forbid"
    verbs = {(r["resources"][0], v) for r in docs["Role"]["rules"] for v in r["verbs"]}
    assert {("rayservices", "get"), ("rayjobs", "create")} <= verbs

    job = yaml.safe_load((DEPLOY / "schedules/daily-ingest.yaml").read_text())
    command = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[:2] == ["deploy/spark/submit.sh", "ingest"] and (ROOT / command[0]).is_file()
    ingest.build_parser().parse_args(command[2:])
    assert (ROOT / command[command.index("--config") + 1]).is_file()
