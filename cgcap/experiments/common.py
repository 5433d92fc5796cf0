"""What the three experiments share: guides to compare, the quality metric, modalities of items, the parent's record."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from pydantic import BaseModel

from cgcap.config import Settings
from cgcap.data.datasets import CaptionItem, DatasetManifest
from cgcap.decoding.plan import classifier_specs, settings_for_modalities

# The quality an experiment compares, first found wins: whether captions name their content, then caption
# metrics against references, then the modality encoder's cosine. Any metric name may be asked for instead.
QUALITY_PREFERENCE = ["hit_rate", "CIDEr-D", "BERTScore-F1"]


class ExperimentError(ValueError):
    """The experiment cannot run as asked; the message says why and what to give instead."""


class GuideChoice(BaseModel):
    """A classifier and the label it steers towards."""

    classifier: str
    wanted_label: int

    def describe(self) -> str:
        return f"{self.classifier} label {self.wanted_label}"


def settings_guides(settings: Settings) -> dict[str, GuideChoice]:
    """The profile's own guides: ``{"audio guide": ..., "image guide": ...}``."""
    specs = classifier_specs(settings.models)
    return {f"{rule} guide": GuideChoice(classifier=specs[rule],
                                         wanted_label=settings_for_modalities(settings.decoding, [rule]).wanted_label)
            for rule in ("audio", "image")}


def parse_guide(text: str) -> tuple[str, GuideChoice]:
    """``NAME=SPEC,LABEL`` (e.g. ``visual=models:/visual-classifier@champion,1``)."""
    name, sep, rest = text.partition("=")
    spec, comma, label = rest.rpartition(",")
    if not sep or not name.strip() or not comma or not spec.strip() or label.strip() not in ("0", "1"):
        raise ExperimentError(f"guide {text!r} must look like NAME=SPEC,LABEL with LABEL 0 or 1")
    return name.strip(), GuideChoice(classifier=spec.strip(), wanted_label=int(label))


def items_by_modality(manifest: DatasetManifest) -> dict[str, list[CaptionItem]]:
    grouped: dict[str, list[CaptionItem]] = {}
    for item in manifest.items:
        if item.modality is not None:
            grouped.setdefault(item.modality, []).append(item)
    return grouped


def quality_metric(metrics: dict[str, float], asked: str | None = None) -> str:
    """The metric an experiment compares: ``asked``, else the first of the preference, else the encoder cosine."""
    if asked is not None:
        if asked not in metrics:
            raise ExperimentError(f"quality metric {asked!r} was not computed; computed: {', '.join(sorted(metrics))}")
        return asked
    for name in QUALITY_PREFERENCE:
        if name in metrics:
            return name
    similarity = sorted(name for name in metrics if name.endswith("-S"))
    if similarity:
        return similarity[0]
    raise ExperimentError(f"no quality metric was computed; computed: {', '.join(sorted(metrics)) or 'none'}")


REFERENCE_METRICS = {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D", "SPICE", "SPIDEr",
                     "BERTScore-F1"}


def check_references(manifest: DatasetManifest, quality: str | None) -> None:
    """Refuse, before any captioning, a quality metric that needs reference captions the dataset lacks."""
    if quality in REFERENCE_METRICS and not manifest.has_references:
        raise ExperimentError(f"quality metric {quality} compares captions with references, and dataset "
                              f"{manifest.dataset} at {manifest.root} has none; give a dataset with reference "
                              "captions (a folder needs a captions.csv) or another --quality")


def metric_key(*parts: str) -> str:
    """An MLflow metric name from free text (it allows letters, digits, _ - . space : /)."""
    return ".".join(re.sub(r"[^\w\-. :/]", "_", part) for part in parts)


def log_parent_results(parent_id: str, output: Path, name: str, rows: list[dict], metrics: dict[str, float],
                       plots: list[Path | None], tags: dict[str, str] | None = None) -> None:
    """The parent's table (JSON, CSV and an MLflow table), its summary metrics, plots and tags."""
    import mlflow

    table_json, table_csv = output / f"{name}.json", output / f"{name}.csv"
    table_json.write_text(json.dumps(rows, indent=2))
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with table_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows(rows)
    with mlflow.start_run(run_id=parent_id):
        mlflow.log_metrics(metrics)
        mlflow.log_table({column: [row.get(column) for row in rows] for column in columns}, f"{name}_table.json")
        for path in [table_json, table_csv, *plots]:
            if path is not None:
                mlflow.log_artifact(str(path))
        if tags:
            mlflow.set_tags(tags)
