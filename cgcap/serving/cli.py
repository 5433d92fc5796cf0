"""``cgcap serve``: local Ray, the Serve app on 127.0.0.1, the offline profile by default."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
from typing import Any, Callable

logger = logging.getLogger(__name__)

# The Serve application, named as `serve run` and the Serve config files name it: the library
# never imports the deployments, it only knows where the application builder lives.
APP_IMPORT_PATH = "deployments.app:build_app"
# serve.run looks for a running Serve instance and logs this when it finds one; the one it finds is the
# instance serve.start made a line earlier (to set host and port, which serve.run does not take), so
# the line would tell a user that an app existed before and that their --host/--port were ignored.
SERVE_LOGGER = "ray.serve"
EXISTING_SERVE_NOTICE = 'Connecting to existing Serve app in namespace "serve".'
# serve.shutdown asks the controller to shut down gracefully, and the controller ends by killing itself
# with ray.kill; the raylet then reports the call it was answering as failed. The shutdown was clean.
CONTROLLER_KILLED_NOTICE = ("Task ServeController.graceful_shutdown failed. There are infinite retries remaining, "
                            "so the task will be retried. Error: The actor is dead because it was killed by `ray.kill`.")


def app_builder(import_path: str = APP_IMPORT_PATH) -> Callable[[dict], Any]:
    """The function an import string ``module:attribute`` names."""
    module_name, _, attribute = import_path.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def start_local(profile: str | None = None, config: str | None = None, overrides: list[str] | None = None,
                host: str | None = None, port: int | None = None, batching: bool | None = None,
                num_cpus: float | None = None, address: str | None = None) -> Any:
    """Start a local Ray (or join the cluster ``address`` or RAY_ADDRESS names), start Serve's HTTP
    proxy on host:port and deploy the app.

    Returns the ingress handle. Ray Serve is imported here, never at module level, so the
    library stays free of it (docs/ARCHITECTURE.md).
    """
    from ray import serve

    from cgcap.config import load_settings
    from cgcap.ray_connection import drop_log_line, init_ray

    profile = profile or "offline"
    app_args = {"profile": profile, "config": config, "overrides": list(overrides or []), "batching": batching}
    serve_settings = load_settings(profile, config, overrides or []).serve
    host = host or serve_settings.host
    port = port or serve_settings.port
    init_ray(address, local={"num_cpus": num_cpus, "include_dashboard": False}, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
                                       "TOKENIZERS_PARALLELISM": "false"}})
    serve.start(http_options={"host": host, "port": port})
    drop_log_line(SERVE_LOGGER, EXISTING_SERVE_NOTICE)
    handle = serve.run(app_builder()(app_args), name="cgcap", route_prefix="/")
    logger.info("cgcap (%s profile) serving on http://%s:%d (docs at /docs)", profile, host, port)
    return handle


def _stop(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (kill, systemd, a container stop) shuts down like Ctrl-C


def _serve(args: argparse.Namespace) -> int:
    import time

    import ray._private.ray_constants as ray_constants

    from cgcap.commands import CommandError
    from cgcap.ray_connection import ClusterUnreachable

    # Stopping during start-up (models load for a while) must be as clean as stopping later:
    # SIGTERM raises KeyboardInterrupt until ray.init replaces that with its own handler, which
    # raises SystemExit. Ray's crash handler would also dump a stack trace for SIGTERM
    # ("*** SIGTERM received ... clock_nanosleep"); this driver only waits, so it has no crash
    # to report, and a stop request is not one. (Ray reads the flag when the driver connects.)
    signal.signal(signal.SIGTERM, _stop)
    ray_constants.RAY_DISABLE_FAILURE_SIGNAL_HANDLER = True
    started = False
    try:
        start_local(args.profile, args.config, args.overrides, args.host, args.port,
                    batching=False if args.no_batching else None, address=args.address)
        started = True
        while True:
            time.sleep(3600)
    except ClusterUnreachable as error:
        raise CommandError(str(error)) from None
    except (KeyboardInterrupt, SystemExit):
        logger.info("stopping%s", "" if started else " during start-up")
    finally:
        _shutdown()
    if not started:
        # Ray's native threads can crash the interpreter's own exit (SIGSEGV) after a shutdown
        # that interrupted Serve's start; everything is stopped by now, so leave directly.
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _shutdown() -> None:
    import ray

    from cgcap.ray_connection import drop_driver_line

    try:
        if ray.is_initialized():
            from ray import serve

            drop_driver_line(CONTROLLER_KILLED_NOTICE)
            serve.shutdown()
            ray.shutdown()
    except KeyboardInterrupt:  # a second Ctrl-C: leave now, without a traceback
        os._exit(130)


def register(subparsers) -> None:
    from cgcap.commands import add_settings_arguments

    parser = subparsers.add_parser("serve", help="serve captions over HTTP with Ray Serve (a local Ray unless "
                                                 "--address or RAY_ADDRESS names a cluster)")
    add_settings_arguments(parser)
    parser.add_argument("--host", default=None, help="address to bind (default serve.host, 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default serve.port, 8000)")
    parser.add_argument("--no-batching", action="store_true", help="switch off @serve.batch (for comparisons)")
    parser.add_argument("--address", default=None,
                        help="Ray cluster to join, host:port (default: RAY_ADDRESS, else a new local Ray)")
    parser.set_defaults(handler=_serve)
