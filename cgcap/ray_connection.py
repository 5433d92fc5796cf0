"""Which Ray a run uses: its own local one, or a cluster that was named; never a stale record.

``ray.init()`` without an address joins the cluster that the last ``ray start`` recorded
in ``/tmp/ray/ray_current_cluster``. A head that died without ``ray stop`` leaves that
record behind, and ``ray.init()`` then waits on it for many minutes, printing only
"Failed to connect to GCS". So a run starts its own local Ray
(``address="local"``) unless ``RAY_ADDRESS`` or an ``--address`` option names a
cluster, and a named cluster that does not answer fails within seconds, naming it.
Inside ``ray job submit`` Ray sets ``RAY_ADDRESS`` for the job, so jobs join their cluster.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

# How long a named cluster's head has to accept a connection.
CONNECT_TIMEOUT_S = 5.0
# Where Ray 2.60 logs its token-authentication notices, and the one a new local Ray always gives.
RAY_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"
TOKEN_AUTH_ENABLED_NOTICE = "Token authentication is enabled for this Ray cluster"


class ClusterUnreachable(ConnectionError):
    """A named Ray cluster did not answer; the message names its address."""


def named_cluster(address: str | None = None) -> str | None:
    """The cluster this run was told to join (``--address``, then ``RAY_ADDRESS``), or None for a local Ray."""
    return address or os.environ.get("RAY_ADDRESS") or None


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse within ``timeout`` seconds when nothing listens at the cluster's head address."""
    target = address
    if address == "auto":  # "the cluster `ray start` recorded": check the recorded address
        from ray._private.services import find_bootstrap_address

        target = find_bootstrap_address(None)
        if target is None:
            raise ClusterUnreachable("the Ray address is 'auto' but no `ray start` cluster is recorded on this "
                                     "machine; name the head's host:port, or leave RAY_ADDRESS and --address "
                                     "unset to run on a local Ray")
    host, _, port = target.split("://", 1)[-1].rstrip("/").rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return
    except (OSError, ValueError) as error:
        why = getattr(error, "strerror", None) or str(error) or type(error).__name__
        shown = address if target == address else f"{address} (recorded as {target})"
    raise ClusterUnreachable(
        f"the Ray cluster at {shown} does not answer ({why}); start it, correct RAY_ADDRESS or --address, "
        "or leave both unset to run on a local Ray"
    )


class _DropLine(logging.Filter):
    """Drops the records whose message starts with ``prefix``: one known line, by its exact text."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def drop_log_line(logger_name: str, prefix: str) -> None:
    """Drop one known, harmless line of Ray's from the logger ``logger_name`` (once per process)."""
    logger = logging.getLogger(logger_name)
    if not any(isinstance(f, _DropLine) and f.prefix == prefix for f in logger.filters):
        logger.addFilter(_DropLine(prefix))


_dropped_driver_lines: set[str] = set()


def drop_driver_line(text: str) -> None:
    """Drop one known, harmless line that Ray prints on the driver for its processes (``(raylet) ...``).

    Ray prints those lines itself, not through ``logging``, so no logging filter reaches them; the
    function it prints them with is wrapped once, and only lines equal to ``text`` are dropped.
    """
    import ray._private.worker as ray_worker

    _dropped_driver_lines.add(text.strip())
    printer = ray_worker.print_to_stdstream
    if getattr(printer, "cgcap_drops_lines", False):
        return

    def print_to_stdstream(data, ignore_prefix: bool):
        lines = [line for line in data.get("lines", []) if line.strip() not in _dropped_driver_lines]
        if lines:
            printer({**data, "lines": lines}, ignore_prefix)

    print_to_stdstream.cgcap_drops_lines = True
    ray_worker.print_to_stdstream = print_to_stdstream


def _quiet_default_token_auth_notice() -> None:
    """Drop Ray's notice that a new local Ray has token authentication on.

    With RAY_AUTH_MODE unset, Ray 2.60 turns token authentication on for the Ray a run starts
    and warns so on every run, telling users how to opt out. On is the safe default we want, so
    the warning is noise to a newcomer. Setting RAY_AUTH_MODE=token ourselves would not do: Ray
    reads it when imported, before this point. Only this notice is dropped; the one saying that
    authentication is *off* still shows.
    """
    drop_log_line(RAY_AUTH_LOGGER, TOKEN_AUTH_ENABLED_NOTICE)


def init_ray(address: str | None = None, local: dict[str, Any] | None = None, **common: Any) -> str | None:
    """Start this run's own Ray, or join the named cluster; returns the cluster's address (None: local).

    ``local`` holds options only a new Ray takes (``num_cpus``, ``include_dashboard``);
    ``common`` those both take (``runtime_env``, ``log_to_driver``).
    """
    import ray

    cluster = named_cluster(address)
    if ray.is_initialized():
        return cluster
    if cluster is None:
        _quiet_default_token_auth_notice()
        ray.init(address="local", **(local or {}), **common)
        return None
    check_reachable(cluster)
    ray.init(address=cluster, **common)
    return cluster
