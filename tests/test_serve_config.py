"""The Serve config files and cluster files deploy what the code defines (parsed with Ray's own schemas)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from deployments.app import AppArgs, build_app
from deployments.classifier import Classifier
from deployments.decoder import GuidedDecoder
from deployments.encoder import Encoder
from deployments.ingress import Ingress

ROOT = Path(__file__).resolve().parents[1]
SERVE_CONFIGS = ["deployments/serve_cpu.yaml", "deployments/serve_multi_gpu.yaml", "deployments/serve_cluster.yaml"]
APP_DEPLOYMENTS = {Ingress.name, GuidedDecoder.name, Encoder.name, Classifier.name}


def serve_config(path: str) -> ServeDeploySchema:
    return ServeDeploySchema.model_validate(yaml.safe_load((ROOT / path).read_text()))


def rayservice() -> dict:
    return yaml.safe_load((ROOT / "cluster/rayservice.yaml").read_text())


def import_target(import_path: str):
    module, _, attribute = import_path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@pytest.mark.parametrize("path", SERVE_CONFIGS)
def test_serve_config_builds_the_app_it_names_with_its_args(path):
    (application,) = serve_config(path).applications
    builder = import_target(application.import_path)
    AppArgs.model_validate(application.args)  # a typo in args would only surface at deploy time
    assert builder(application.args) is not None
    assert {d.name for d in application.deployments} == APP_DEPLOYMENTS


def test_cpu_config_binds_loopback_and_fits_a_two_core_machine():
    config = serve_config("deployments/serve_cpu.yaml")
    assert config.http_options.host == "127.0.0.1"
    (application,) = config.applications
    cpus = sum(d.ray_actor_options.num_cpus * d.num_replicas for d in application.deployments)
    assert cpus <= 2.0
    assert all(not d.ray_actor_options.num_gpus for d in application.deployments)


def test_multi_gpu_config_shares_gpus_fractionally_and_autoscales_model_deployments():
    (application,) = serve_config("deployments/serve_multi_gpu.yaml").applications
    by_name = {d.name: d for d in application.deployments}
    for name in (GuidedDecoder.name, Encoder.name, Classifier.name):
        gpus = by_name[name].ray_actor_options.num_gpus
        assert 0 < gpus < 1, f"{name} should share a GPU"
        scaling = by_name[name].autoscaling_config
        assert scaling["max_replicas"] > scaling["min_replicas"] >= 1
    assert not by_name[Ingress.name].ray_actor_options.num_gpus
    # Four GPUs hold the minimum replica set with room for the decoder to scale out.
    minimum = sum(by_name[n].ray_actor_options.num_gpus * by_name[n].autoscaling_config["min_replicas"]
                  for n in (GuidedDecoder.name, Encoder.name, Classifier.name))
    assert minimum <= 4


def test_rayservice_serves_the_multi_gpu_application_with_gpu_workers():
    manifest = rayservice()
    assert (manifest["apiVersion"], manifest["kind"]) == ("ray.io/v1", "RayService")
    embedded = ServeDeploySchema.model_validate(yaml.safe_load(manifest["spec"]["serveConfigV2"]))
    reference = serve_config("deployments/serve_multi_gpu.yaml")
    # The manifest promises the same application as the multi-GPU config file. Only the keys the files set:
    # Ray's schema fills the rest with a DEFAULT sentinel that pydantic cannot serialise (a warning per field).
    assert ([a.model_dump(exclude_unset=True) for a in embedded.applications]
            == [a.model_dump(exclude_unset=True) for a in reference.applications])
    import_target(embedded.applications[0].import_path)

    cluster = manifest["spec"]["rayClusterConfig"]
    assert cluster["rayVersion"] == importlib.import_module("ray").__version__
    gpus_needed = max(d.ray_actor_options.num_gpus or 0 for d in embedded.applications[0].deployments)
    (workers,) = cluster["workerGroupSpecs"]
    container = workers["template"]["spec"]["containers"][0]
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) == int(workers["rayStartParams"]["num-gpus"])
    assert int(workers["rayStartParams"]["num-gpus"]) >= 1 > gpus_needed
    env = {item["name"] for item in container["env"]}
    assert {"CGCAP_API_KEY", "MLFLOW_TRACKING_URI"} <= env


def test_cluster_launcher_config_passes_rays_own_validation_with_gpu_worker_groups():
    import ray.autoscaler
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((ROOT / "cluster/ray-cluster-gpu.yaml").read_text())
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    import jsonschema

    jsonschema.validate(config, schema)
    validate_config(prepare_config(config))
    node_types = config["available_node_types"]
    gpu_groups = [name for name, node in node_types.items() if node["resources"].get("GPU", 0) >= 1]
    assert gpu_groups and all(node_types[g]["max_workers"] >= 1 for g in gpu_groups)
    assert node_types[config["head_node_type"]]["resources"].get("GPU", 0) == 0
    for command in config["setup_commands"]:
        for word in command.split():
            if word.startswith("scripts/"):
                assert (ROOT / word).is_file(), word


def test_app_args_refuse_unknown_keys_and_apply_the_batching_switch():
    from pydantic import ValidationError

    from deployments.app import app_settings

    with pytest.raises(ValidationError, match="profil"):
        AppArgs.model_validate({"profil": "tiny"})
    assert app_settings(AppArgs(profile="tiny", batching=False)).serve.batching is False
    assert app_settings(AppArgs(profile="tiny")).serve.batching is True


def test_library_side_of_serving_imports_no_ray_serve():
    code = ("import sys, cgcap.serving.api, cgcap.serving.cli, cgcap.serving.remote, cgcap.captioner, cgcap.serving.batching;"
            "bad = sorted(m for m in sys.modules if m.startswith(('ray.serve', 'deployments')));"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.mark.slow  # a cgcap serve process
def test_cgcap_serve_refuses_an_unknown_profile_in_one_line():
    done = subprocess.run([sys.executable, "-m", "cgcap.cli", "serve", "--profile", "nosuch", "--port", "8999"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "unknown profile 'nosuch'" in done.stderr and "Traceback" not in done.stderr


def test_cgcap_serve_loads_the_app_the_serve_config_files_name():
    from cgcap.serving.cli import APP_IMPORT_PATH, app_builder
    from deployments.app import build_app

    for config in ("serve_cpu.yaml", "serve_multi_gpu.yaml"):
        applications = yaml.safe_load((ROOT / "deployments" / config).read_text())["applications"]
        assert [app["import_path"] for app in applications] == [APP_IMPORT_PATH]
    assert app_builder() is build_app


@pytest.mark.parametrize("path", ["deployments/serve_cpu.yaml", "deployments/serve_multi_gpu.yaml",
                                  "deployments/serve_cluster.yaml"])
def test_every_config_bounds_the_decoders_queue_and_its_loops_rows(path):
    from deployments.app import AppArgs, app_settings

    (application,) = serve_config(path).applications
    decoder = {d.name: d for d in application.deployments}[GuidedDecoder.name]
    # Past max_queued_requests a request is refused with a 503 at once instead of waiting without end.
    assert decoder.max_queued_requests > 0 and decoder.max_ongoing_requests >= 8
    serve_settings = app_settings(AppArgs.model_validate(application.args)).serve
    assert serve_settings.continuous_batching
    # The loop admits at least as many rows as the replica takes requests of the profile's beams.
    assert serve_settings.max_batch_rows >= decoder.max_ongoing_requests
