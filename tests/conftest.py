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


@pytest.fixture(scope="session")
def audibility_files():
    """(audible, not audible) sentence files, found by the same resolver the product uses.

    The public set states no licence, so it is not in the repository: the install step fetches
    it, or it sits in $CGCAP_AUDIBILITY_DATA or ../shared/data/audibility.
    """
    from cgcap.classifier import audibility_data

    found = audibility_data.find()
    if found is None:
        pytest.fail("this test needs the public audibility sentences, which are not on this machine: "
                    + audibility_data.how_to_get(), pytrace=False)
    return found
