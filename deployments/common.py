"""What every deployment shares: the replica's name in stats and the batching switch."""

from __future__ import annotations

from typing import Any

from ray import serve

from cgcap.config import ServeSettings


def replica_name() -> str:
    """The replica actor's full name: ``ray.get_actor(name, namespace="serve")`` finds it."""
    return serve.get_replica_context().replica_id.to_full_id_str()


def configure_batching(batched_method: Any, serve_settings: ServeSettings) -> None:
    """Batching off = every call runs alone, which is what the benchmark compares against."""
    batched_method.set_max_batch_size(serve_settings.max_batch_size if serve_settings.batching else 1)
    batched_method.set_batch_wait_timeout_s(serve_settings.batch_wait_timeout_s if serve_settings.batching else 0.0)
