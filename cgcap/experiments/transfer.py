"""Check 3: how much of the modality-specific gain a classifier keeps on the other modality.

A matrix of classifier (guide) x modality. Each modality's items are captioned once with no
classifier (λ1 = 0 for every modality: the baseline), and once per guide with that guide
steering every modality at the profile's λ1; a cell is the guide's gain in quality over
that modality's baseline. ``retained`` is a guide's gain on a modality as a share of the
modality's own guide's gain there (the paper's "how much of the gain is retained").
"""

from __future__ import annotations

from pathlib import Path

from cgcap.config import Settings, build_settings
from cgcap.data.datasets import read_dataset
from cgcap.evaluation.run import EvaluationOutcome, EvaluationRequest, locked_output, run_evaluation
from cgcap.experiments.common import (ExperimentError, GuideChoice, check_references, items_by_modality,
                                      log_parent_results, metric_key, quality_metric, settings_guides)

BASELINE = "no classifier"


def steered_by(settings: Settings, guide: GuideChoice | None) -> Settings:
    """``settings`` with ``guide`` steering audio and images alike, or with no classifier at all (None)."""
    data = settings.model_dump()
    if guide is None:
        data["decoding"].update(lambda_cls=0.0, image_lambda_cls=0.0)
    else:
        data["models"].update(classifier=guide.classifier, image_classifier=guide.classifier)
        data["decoding"].update(wanted_label=guide.wanted_label, image_wanted_label=guide.wanted_label)
    return build_settings(data)


def _folder_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def run_transfer(request: EvaluationRequest, settings: Settings, guides: dict[str, GuideChoice] | None = None,
                 quality: str | None = None) -> tuple[str, list[dict]]:
    # The parent folder is locked like a sweep's: two runs into it would share its run marker.
    with locked_output(Path(request.output)):
        return _run_transfer(request, settings, guides, quality)


def _run_transfer(request: EvaluationRequest, settings: Settings, guides: dict[str, GuideChoice] | None,
                  quality: str | None) -> tuple[str, list[dict]]:
    from cgcap.evaluation.plots import plot_matrix
    from cgcap.evaluation.sweep import open_parent_run

    guides = guides or settings_guides(settings)
    if BASELINE in guides:
        raise ExperimentError(f"{BASELINE!r} names the baseline; call the guide something else")
    manifest = read_dataset(request.dataset, request.data_root, request.split).select(request.ids, request.limit)
    check_references(manifest, quality)
    modalities = {m: [item.id for item in items if not item.missing]
                  for m, items in items_by_modality(manifest).items() if m in ("audio", "image")}
    modalities = {m: ids for m, ids in modalities.items() if ids}
    if not modalities:
        raise ExperimentError(f"{request.dataset} at {request.data_root} has no audio or image items to caption")
    variants = {BASELINE: steered_by(settings, None), **{name: steered_by(settings, g) for name, g in guides.items()}}

    output = Path(request.output)
    params = {k: "null" if v is None else str(v)[:6000] for k, v in settings.flat().items()}
    params.update({f"guide.{name}": guide.describe() for name, guide in guides.items()})
    params.update({f"items.{m}": str(len(ids)) for m, ids in modalities.items()})
    parent_id = open_parent_run(output, settings, request.run_name or "classifier transfer",
                                {"cgcap.kind": "experiment.transfer"}, params)
    outcomes: dict[tuple[str, str], EvaluationOutcome] = {}
    for modality, ids in modalities.items():
        for name, variant in variants.items():
            child = request.model_copy(update={
                "ids": ids, "limit": None, "parent_run_id": parent_id, "run_name": f"{name} on {modality}",
                "output": str(output / modality / _folder_name(name))})
            outcomes[name, modality] = run_evaluation(child, variant)

    rows, metrics, matrix = [], {}, []
    quality_names = {m: quality_metric(outcomes[BASELINE, m].metrics, quality) for m in modalities}
    for name in guides:
        line = []
        for modality in modalities:
            metric = quality_names[modality]
            base, steered = outcomes[BASELINE, modality].metrics[metric], outcomes[name, modality].metrics.get(metric)
            gain = None if steered is None else steered - base
            own = f"{modality} guide"
            own_gain = None
            if own in guides and (value := outcomes[own, modality].metrics.get(metric)) is not None:
                own_gain = value - base
            retained = gain / own_gain if gain is not None and own_gain else None
            rows.append({"guide": name, "classifier": guides[name].classifier,
                         "wanted_label": guides[name].wanted_label, "modality": modality, "quality_metric": metric,
                         "baseline": base, "steered": steered, "gain": gain, "retained": retained,
                         **{f"gain {m}": value - outcomes[BASELINE, modality].metrics[m]
                            for m, value in sorted(outcomes[name, modality].metrics.items())
                            if m in outcomes[BASELINE, modality].metrics and not m.startswith("items_")},
                         "run_id": outcomes[name, modality].run_id,
                         "baseline_run_id": outcomes[BASELINE, modality].run_id})
            if gain is not None:
                metrics[metric_key("gain", name, modality)] = gain
            if retained is not None:
                metrics[metric_key("retained", name, modality)] = retained
            line.append(gain)
        matrix.append(line)
    columns = [f"{m} ({quality_names[m]})" for m in modalities]
    plot = plot_matrix([f"{n}\n{g.describe()}" for n, g in guides.items()], columns, matrix,
                       "gain over no classifier (λ1 = 0)", output / "transfer.png")
    log_parent_results(parent_id, output, "transfer", rows, metrics, [plot])
    return parent_id, rows
