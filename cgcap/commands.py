"""What every ``cgcap`` subcommand shares: the error for a user's mistake and the settings arguments.

Kept apart from ``cgcap.cli`` (which imports every subcommand's module) so a subcommand
depends on these helpers only, never on the whole command line.
"""

from __future__ import annotations

import argparse


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
