"""Test-wide environment: no model hub, no usage stats, MLflow in a temporary sqlite."""

import os

# Before anything imports transformers: no hub here, fail fast instead of retrying (docs/OFFLINE.md).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    """A fresh MLflow store for one test, in sqlite like the embedded default."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri
