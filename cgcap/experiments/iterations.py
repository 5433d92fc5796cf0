"""Check 2: the fewest cache updates per token, n, that keep 90% of the full method's gain.

One child evaluation per n (``decoding.num_iterations``), under one parent: the existing
sweep, with n = 0 added as the baseline (no cache update; the logit rules, fusion and end
rules still apply, so it is not the raw language model). The gain of n is
``quality(n) - quality(0)``; the full method is the largest n; the answer is the smallest n
whose gain is at least 90% of the full gain. Its cost is measured, not assumed: seconds per
caption for every n, plotted against every quality metric.
"""

from __future__ import annotations

from pathlib import Path

from cgcap.config import Settings
from cgcap.evaluation.run import EvaluationRequest
from cgcap.data.datasets import read_dataset
from cgcap.experiments.common import ExperimentError, check_references, log_parent_results, quality_metric

KEY = "decoding.num_iterations"
KEPT_SHARE = 0.9


def smallest_n_keeping(quality: dict[int, float], share: float = KEPT_SHARE) -> tuple[int | None, float]:
    """(smallest n > 0 whose gain over n = 0 is at least ``share`` of the largest n's gain, that full gain).

    None when the full method gains nothing over the baseline: then no n "keeps" a gain.
    """
    full_n = max(quality)
    full_gain = quality[full_n] - quality[0]
    if full_gain <= 0:
        return None, full_gain
    return min(n for n in quality if n > 0 and quality[n] - quality[0] >= share * full_gain), full_gain


def run_iterations(request: EvaluationRequest, settings: Settings, values: list[int] = (1, 5, 10, 20),
                   quality: str | None = None) -> tuple[str, list[dict]]:
    from cgcap.evaluation.plots import plot_quality_vs_seconds
    from cgcap.evaluation.sweep import run_sweep

    values = sorted({0, *values})
    if len(values) < 2 or any(n < 0 for n in values):
        raise ExperimentError(f"iterations must be whole numbers >= 1 besides the baseline 0, got {values}")
    check_references(read_dataset(request.dataset, request.data_root, request.split), quality)
    request = request.model_copy(update={"run_name": request.run_name or "fewest iterations"})
    parent_id, outcomes = run_sweep(request, settings, f"{KEY}={','.join(map(str, values))}")
    name = quality_metric(outcomes[-1].metrics, quality)
    by_n = {n: outcome.metrics.get(name) for n, outcome in zip(values, outcomes)}
    if any(value is None for value in by_n.values()):
        raise ExperimentError(f"quality metric {name!r} is missing for some n: {by_n}")
    best, full_gain = smallest_n_keeping(by_n)
    rows, metrics = [], {"full_gain": full_gain}
    for n, outcome in zip(values, outcomes):
        gain = by_n[n] - by_n[0]
        rows.append({"n": n, "run_id": outcome.run_id, "seconds_per_caption": outcome.seconds_per_item,
                     "quality": by_n[n], "gain": gain, "gain_share": gain / full_gain if full_gain > 0 else None,
                     **outcome.metrics})
        metrics[f"quality.n_{n}"] = by_n[n]
        if outcome.seconds_per_item is not None:
            metrics[f"seconds_per_caption.n_{n}"] = outcome.seconds_per_item
    if best is not None:
        metrics["smallest_n_keeping_90pct"] = float(best)
    output = Path(request.output)
    plotted = [name] + [m for m in outcomes[-1].metrics if m != name and not m.startswith("items_")][:5]
    plot = plot_quality_vs_seconds(
        [{"label": f"n={n}", "seconds_per_item": o.seconds_per_item, "metrics": o.metrics}
         for n, o in zip(values, outcomes)], plotted, output / "iterations.png")
    reason = ("" if best is not None else f"the largest n gains {full_gain:+.4f} over n = 0 in {name}: nothing to keep")
    log_parent_results(parent_id, output, "iterations", rows, metrics, [plot],
                       {"cgcap.kind": "experiment.iterations", "cgcap.quality_metric": name,
                        **({"cgcap.no_gain": reason} if reason else {})})
    return parent_id, rows
