"""BERTScore (Zhang et al. 2020) with a configurable local encoder, by the bert-score package.

The encoder is a model spec: a packaged name such as ``minilm-l6`` (all-MiniLM-L6-v2,
shipped in a wheel, so it runs with no hub), a local folder, or a hub id. Without
baseline rescaling, so figures are comparable only between runs with the same encoder
and layer; the encoder and layer are logged with the run.
"""

from __future__ import annotations

from cgcap.metrics.report import MetricReport

NAMES = ["BERTScore-P", "BERTScore-R", "BERTScore-F1"]


def encoder_folder(spec: str) -> str:
    """Where bert-score should load ``spec`` from: packaged names become their folder."""
    from cgcap.models import known_models
    from cgcap.models.hf import resolve_source
    from cgcap.models.store import ModelNotFoundError

    from cgcap.models.packaged import minilm_folder

    if spec == "minilm-l6" and known_models()[spec].available() is None:
        return str(minilm_folder())  # the wheel's folder as is: no need to load the model to find it
    entry = known_models().get(spec)
    if entry is not None:
        if entry.kind != "sequence-classifier" or spec.startswith("tiny:"):
            raise ModelNotFoundError(f"BERTScore encoder {spec!r} is not a text encoder with saved weights")
        reason = entry.available()
        if reason:
            raise ModelNotFoundError(f"BERTScore encoder {spec!r} is not available: {reason}")
        return entry.build(spec, 0).source
    return resolve_source(spec)


def build_scorer(encoder: str = "minilm-l6", layer: int | None = None, device: str = "cpu", batch_size: int = 32):
    """bert-score's ``BERTScorer`` over ``encoder`` at ``layer`` (default its last): the slow part of BERTScore."""
    from bert_score import BERTScorer
    from transformers import AutoConfig

    folder = encoder_folder(encoder)
    num_layers = layer or AutoConfig.from_pretrained(folder).num_hidden_layers
    return BERTScorer(model_type=folder, num_layers=num_layers, lang="en", device=device, batch_size=batch_size)


def bert_score(
    candidates: dict[str, str],
    references: dict[str, list[str]],
    encoder: str = "minilm-l6",
    layer: int | None = None,
    device: str = "cpu",
    batch_size: int = 32,
    scorer=None,
) -> MetricReport:
    """Precision, recall and F1 per item (best over its references) and their means. ``scorer``: one
    ``build_scorer`` already made for this encoder and layer."""
    ids = [key for key in candidates if references.get(key)]
    if not ids:
        return MetricReport(unavailable={name: "no item has both a caption and reference captions" for name in NAMES})
    scorer = scorer if scorer is not None else build_scorer(encoder, layer, device, batch_size)
    precision, recall, f1 = scorer.score([candidates[key] for key in ids], [references[key] for key in ids])
    report = MetricReport(per_item={key: {} for key in ids})
    for name, values in zip(NAMES, (precision, recall, f1)):
        report.corpus[name] = float(values.mean())
        for key, value in zip(ids, values.tolist()):
            report.per_item[key][name] = float(value)
    return report
