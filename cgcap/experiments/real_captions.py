"""Check 1: how accurate is a classifier trained on generated sentences on real captions?

The paper asks for more than 85% accuracy on synthetic test data and more than 70% on real
captions. Positives are the dataset's own reference captions of one modality; negatives are
the captions of the other modality (in the same dataset or ``negatives_dataset``) or a
held-out sentence file. Each classifier counts a text as positive when P(its wanted label)
is above 0.5, so the image guide (the audibility classifier steered to "not audible" in the
offline profile) is checked as the visual classifier it stands in for. Both classes are cut
to the same size (seeded shuffle), so accuracy is not inflated by the larger class.

Synthetic accuracy is measured on the held-out test split of the audibility sentences for
classifiers whose spec names audibility (the split the offline classifier never trained on),
on ``minilm-l6-visual``'s own held-out split for it, or on any ``synthetic_positives``/``synthetic_negatives`` files given.
"""

from __future__ import annotations

import random
from pathlib import Path

from pydantic import BaseModel

from cgcap.config import Settings
from cgcap.data.datasets import read_dataset
from cgcap.experiments.common import (ExperimentError, GuideChoice, items_by_modality, log_parent_results, metric_key,
                                      settings_guides)

REAL_THRESHOLD, SYNTHETIC_THRESHOLD = 0.70, 0.85  # the paper's


class RealCaptionRequest(BaseModel):
    dataset: str
    data_root: str
    split: str | None = None
    limit: int | None = None
    output: str
    negatives_dataset: str | None = None
    negatives_root: str | None = None
    negatives_split: str | None = None
    negatives_file: Path | None = None
    synthetic_positives: Path | None = None
    synthetic_negatives: Path | None = None
    guides: dict[str, GuideChoice] | None = None  # None: the settings' audio and image guides
    prefix: str | None = None  # put before each caption; None: the classifier's training prefix
    seed: int = 0
    run_name: str | None = None


class RealCaptionRow(BaseModel):
    modality: str
    guide: str
    classifier: str
    wanted_label: int
    positives: int
    negatives: int
    negatives_from: str
    real_accuracy: float
    real_roc_auc: float
    synthetic_accuracy: float | None = None
    synthetic_roc_auc: float | None = None
    run_id: str = ""


def no_references_message(dataset: str, root: str) -> str:
    return (f"dataset {dataset} at {root} has no reference captions: this check uses a dataset's own captions as "
            "positives; give AudioCaps, Clotho, COCO, or a folder with a captions.csv (file_name,caption)")


def _captions(items) -> list[str]:
    return list(dict.fromkeys(reference for item in items for reference in item.references))


def _balanced(positives: list[str], negatives: list[str], seed: int) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    positives, negatives = positives[:], negatives[:]
    rng.shuffle(positives)
    rng.shuffle(negatives)
    size = min(len(positives), len(negatives))
    return positives[:size], negatives[:size]


def _negatives(request: RealCaptionRequest, grouped, modality: str) -> tuple[list[str], str]:
    from cgcap.classifier.data import read_sentences

    if request.negatives_file is not None:
        return read_sentences(request.negatives_file), str(request.negatives_file)
    if request.negatives_dataset is not None:
        other = read_dataset(request.negatives_dataset, request.negatives_root or "", request.negatives_split)
        if not other.has_references:
            raise ExperimentError(no_references_message(request.negatives_dataset, str(request.negatives_root)))
        return _captions(other.items), f"{request.negatives_dataset} captions"
    others = [item for name, items in grouped.items() if name not in (modality, "video") for item in items]
    return _captions(others), f"{request.dataset} {'/'.join(sorted(set(grouped) - {modality, 'video'}))} captions"


def _synthetic_split(request: RealCaptionRequest, guide: GuideChoice):
    from cgcap.classifier import visual
    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.offline import find_audibility_data

    if request.synthetic_positives is not None and request.synthetic_negatives is not None:
        return load_dataset(request.synthetic_positives, request.synthetic_negatives).test
    if guide.classifier == visual.SPEC:
        return visual.labelled_dataset()[0].test  # its own held-out split
    found = find_audibility_data() if "audibility" in guide.classifier else None
    return load_dataset(*found).test if found else None


def wanted_scores(classifier, texts: list[str], prefix: str, wanted_label: int) -> list[float]:
    """P(wanted label | prefix + text) for each text."""
    scores = classifier.score([prefix + text for text in texts]).tolist()
    return scores if wanted_label == 1 else [1.0 - score for score in scores]


def run_real_captions(request: RealCaptionRequest, settings: Settings) -> tuple[str, list[RealCaptionRow]]:
    import mlflow

    from cgcap.classifier import TextClassifier
    from cgcap.classifier.evaluation import classification_metrics
    from cgcap.evaluation.plots import plot_accuracy_bars
    from cgcap.evaluation.sweep import open_parent_run

    manifest = read_dataset(request.dataset, request.data_root, request.split).select(limit=request.limit)
    if not manifest.has_references:
        raise ExperimentError(no_references_message(request.dataset, request.data_root))
    grouped = {m: items for m, items in items_by_modality(manifest).items() if m != "video" and _captions(items)}
    guides = request.guides or settings_guides(settings)
    plan = []
    for modality, items in grouped.items():
        negatives, source = _negatives(request, items_by_modality(manifest), modality)
        if not negatives:
            raise ExperimentError(f"no negatives for the {modality} captions: the dataset has no captions of another "
                                  "modality; give --negatives-dataset or --negatives FILE (held-out sentences)")
        positives, negatives = _balanced(_captions(items), negatives, request.seed)
        plan.append((modality, positives, negatives, source))

    output = Path(request.output)
    params = {"data.dataset": request.dataset, "data.root": request.data_root, "data.split": manifest.split,
              "data.limit": str(request.limit), "seed": str(request.seed), "prefix": str(request.prefix),
              **{f"guide.{name}": guide.describe() for name, guide in guides.items()}}
    parent_id = open_parent_run(output, settings, request.run_name or f"real captions {request.dataset}",
                                {"cgcap.kind": "experiment.real_captions"}, params, resume=False)
    loaded = {spec: TextClassifier.load(spec, device=settings.models.device, backend=settings.models.text_backend,
                                        int8=settings.models.text_int8)
              for spec in dict.fromkeys(g.classifier for g in guides.values())}
    rows, metrics, synthetic_cache = [], {}, {}
    for modality, positives, negatives, source in plan:
        for name, guide in guides.items():
            classifier = loaded[guide.classifier]
            prefix = classifier.prefix if request.prefix is None else request.prefix
            labels = [1] * len(positives) + [0] * len(negatives)
            real = classification_metrics(labels, wanted_scores(classifier, positives + negatives, prefix,
                                                                guide.wanted_label))
            row = RealCaptionRow(modality=modality, guide=name, classifier=guide.classifier,
                                 wanted_label=guide.wanted_label, positives=len(positives), negatives=len(negatives),
                                 negatives_from=source, real_accuracy=real.accuracy, real_roc_auc=real.roc_auc)
            if (guide.classifier, prefix) not in synthetic_cache:
                synthetic = _synthetic_split(request, guide)
                # Label-symmetric: the sentence files' label 1 is audible (or visual), whatever the guide wants.
                synthetic_cache[guide.classifier, prefix] = None if synthetic is None else classification_metrics(
                    synthetic.labels, classifier.score([prefix + text for text in synthetic.texts]).tolist())
            if (found := synthetic_cache[guide.classifier, prefix]) is not None:
                row.synthetic_accuracy, row.synthetic_roc_auc = found.accuracy, found.roc_auc
            child_metrics = {key: value for key, value in row.model_dump().items()
                             if key.startswith(("real_", "synthetic_")) and value is not None}
            with mlflow.start_run(run_name=f"{name} on {modality} captions", parent_run_id=parent_id, nested=True,
                                  tags={"cgcap.kind": "experiment.real_captions.child"}) as child:
                mlflow.log_params({"modality": modality, "guide": name, "classifier": guide.classifier,
                                   "wanted_label": guide.wanted_label, "prefix": prefix, "negatives_from": source,
                                   "positives": len(positives), "negatives": len(negatives)})
                mlflow.log_metrics(child_metrics)
                row.run_id = child.info.run_id
            rows.append(row)
            metrics.update({metric_key(modality, name, key): value for key, value in child_metrics.items()})
    labels = [f"{row.guide}\non {row.modality}" for row in rows]
    plot = plot_accuracy_bars(
        labels, {"real captions": [row.real_accuracy for row in rows],
                 "synthetic test": [row.synthetic_accuracy for row in rows]},
        {f"real > {REAL_THRESHOLD:.0%}": REAL_THRESHOLD, f"synthetic > {SYNTHETIC_THRESHOLD:.0%}": SYNTHETIC_THRESHOLD},
        output / "real_captions.png")
    log_parent_results(parent_id, output, "real_captions", [row.model_dump() for row in rows], metrics, [plot])
    return parent_id, rows
