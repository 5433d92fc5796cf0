"""The ``cgcap`` command. Each area adds its own subcommands through ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

# Set before transformers is imported anywhere: with no hub reachable, a lookup
# retries for ~30 s before failing (OFFLINE.md). Users with a hub set HF_HUB_OFFLINE=0.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Areas that add subcommands; each module has ``register(subparsers)``.
COMMAND_MODULES = {
    "cgcap.decoding.cli": "caption",
    "cgcap.classifier.cli": "classifier",
    "cgcap.serving.cli": "serve",
    "cgcap.tracking_cli": "runs",
    "cgcap.data.media_cli": "media",
    "cgcap.experiments.cli": "experiment",
}


class CommandError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile``, ``--config`` and repeated ``--set key=value``, shared by every command."""
    parser.add_argument("--profile", default=None, help="settings profile: paper, offline or tiny (default offline)")
    parser.add_argument("--config", default=None, help="YAML settings file, on top of the profile")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override one setting, e.g. --set decoding.top_k=64 (repeatable)",
    )


def settings_from_args(args: argparse.Namespace):
    from cgcap.config import load_settings

    return load_settings(args.profile, args.config, args.overrides)


def _models_list(args: argparse.Namespace) -> int:
    from cgcap import tracking
    from cgcap.config import list_profiles, load_settings
    from cgcap.models import known_models

    tracking.configure()  # so models:/ URIs resolve against the configured store

    rows = []
    for name, entry in sorted(known_models().items()):
        reason = entry.available()
        rows.append({"spec": name, "kind": entry.kind, "loadable": reason is None,
                     "why_not": reason, "description": entry.description})
    for profile in list_profiles():
        models = load_settings(profile).models
        for role in ("language_model", "audio_encoder", "image_encoder", "classifier", "image_classifier"):
            spec = getattr(models, role)
            if spec is None or spec.split("@")[0] in known_models() or any(row["spec"] == spec for row in rows):
                continue
            rows.append({"spec": spec, "kind": role, "loadable": _loadable(spec) is None,
                         "why_not": _loadable(spec), "description": f"{profile} profile's {role}"})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "yes" if row["loadable"] else "no"
        print(f"{row['spec']:45} {row['kind']:20} loadable: {status:3}  {row['description']}")
        if row["why_not"]:
            print(f"{'':45}   why not: {row['why_not']}")
    return 0


def _loadable(spec: str) -> str | None:
    """Whether a spec could be loaded here, without loading it (None = yes)."""
    from cgcap.models import ModelNotFoundError
    from cgcap.models.hf import resolve_source

    if spec.startswith("models:/"):
        return _registered(spec)
    if spec.startswith("runs:/"):
        try:
            from cgcap.models.mlflow_models import download_model

            download_model(spec)
        except ModelNotFoundError as error:
            return str(error)
        return None
    if spec.startswith("open_clip:"):
        return _open_clip_loadable(spec)
    try:
        resolve_source(spec)
    except ModelNotFoundError as error:
        return str(error)
    return None


def _registered(uri: str) -> str | None:
    """Whether the registry holds ``models:/name@alias`` or ``models:/name/version``, without downloading it."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    body = uri.removeprefix("models:/")
    client = MlflowClient()
    try:
        if "@" in body:
            client.get_model_version_by_alias(*body.split("@", 1))
        else:
            name, _, version = body.partition("/")
            client.get_model_version(name, version) if version else client.get_registered_model(name)
    except MlflowException as error:
        return f"MLflow model {uri!r} is not in the registry at {mlflow.get_tracking_uri()!r}: {error.message}"
    return None


def _open_clip_loadable(spec: str) -> str | None:
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    from cgcap.models.open_clip_models import parse_open_clip_spec

    arch, pretrained = parse_open_clip_spec(spec)
    if not pretrained or os.path.exists(pretrained):
        return None
    hub = (open_clip.get_pretrained_cfg(arch, pretrained) or {}).get("hf_hub", "").strip("/")
    files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
    if hub and any(isinstance(try_to_load_from_cache(hub, name), str) for name in files):
        return None
    return f"open_clip weights {arch}/{pretrained} are not in the local cache (they download from the hub on first load)"


def _not_built_yet(commands, command: str) -> None:
    def refuse(args: argparse.Namespace) -> int:
        raise CommandError(f"'cgcap {command}' is not built in this version yet")

    parser = commands.add_parser(command, help="(not built in this version yet)")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    parser.set_defaults(handler=refuse)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cgcap", description="Classifier-guided captioning for audio and images (arXiv 2501.03183)."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    models = commands.add_parser("models", help="the model store").add_subparsers(dest="models_command", required=True)
    listing = models.add_parser("list", help="every known model spec and whether it loads on this machine")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_models_list)

    for module_name, command in COMMAND_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if not error.name or not module_name.startswith(error.name):
                raise
            _not_built_yet(commands, command)
            continue
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from cgcap.config import SettingsError
    from cgcap.models import ModelNotFoundError

    try:
        return int(args.handler(args) or 0)
    except (CommandError, SettingsError, ModelNotFoundError) as error:
        print(f"cgcap: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
