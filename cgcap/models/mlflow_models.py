"""MLflow model URIs (``models:/name@alias``, ``models:/name/3``, ``runs:/id/path``).

Models are logged as plain Hugging Face folders (safetensors + tokenizer) inside the
MLflow model's artifacts, so loading downloads files and calls ``from_pretrained``:
nothing is unpickled.
"""

from __future__ import annotations

from pathlib import Path

from cgcap.models.store import Kind, LoadedModel, ModelNotFoundError


def find_hf_folder(root: Path) -> Path:
    """The folder under ``root`` holding a Hugging Face ``config.json`` (shallowest first)."""
    candidates = sorted(root.rglob("config.json"), key=lambda p: len(p.parts))
    for config in candidates:
        folder = config.parent
        if any(folder.glob("*.safetensors")):
            return folder
    raise ModelNotFoundError(f"no safetensors Hugging Face model folder inside {root}")


def download_model(uri: str) -> Path:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=uri)
    except MlflowException as error:
        raise ModelNotFoundError(
            f"MLflow model {uri!r} could not be resolved against tracking URI {mlflow.get_tracking_uri()!r}: "
            f"{error.message}. Train and register one with `cgcap classifier train --register`, "
            "or set MLFLOW_TRACKING_URI to the server that holds it"
        ) from None
    return find_hf_folder(Path(local))


def load_mlflow_model(uri: str, task: Kind | None = None) -> LoadedModel:
    from cgcap.models.hf import load_pretrained

    folder = download_model(uri)
    loaded = load_pretrained(str(folder), task)
    loaded.spec = uri
    loaded.source = str(folder)
    return loaded
