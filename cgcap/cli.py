"""The ``cgcap`` command. Each area adds its own subcommands through ``register(subparsers)``."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")

# Areas that add subcommands; each module has ``register(subparsers)``.
COMMAND_MODULES = {
    "cgcap.caption_cli": "caption",
    "cgcap.classifier.cli": "classifier",
    "cgcap.serving.cli": "serve",
    "cgcap.evaluation.cli": "evaluate",
    "cgcap.tracking_cli": "runs",
    "cgcap.data.media_cli": "media",
    "cgcap.experiments.cli": "experiment",
}


def _models_list(args: argparse.Namespace) -> int:
    from cgcap import tracking
    from cgcap.models.availability import model_catalog

    tracking.configure()  # so models:/ URIs resolve against the configured store
    rows = [row.model_dump() for row in model_catalog()]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for row in rows:
        status = "yes" if row["loadable"] else "no"
        print(f"{row['spec']:45} {row['kind']:20} loadable: {status:3}  {row['description']}")
        if row["why_not"]:
            print(f"{'':45}   why not: {row['why_not']}")
    return 0


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

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from cgcap.commands import CommandError
    from cgcap.config import SettingsError
    from cgcap.models import ModelNotFoundError

    try:
        return int(args.handler(args) or 0)
    except (CommandError, SettingsError, ModelNotFoundError) as error:
        print(f"cgcap: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
