"""Plots logged with the runs: per-item score distributions, and metrics against a swept setting."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # jobs run headless
import matplotlib.pyplot as plt  # noqa: E402

from cgcap.metrics.report import MetricReport  # noqa: E402

PLOTTED = ["CIDEr-D", "METEOR", "BERTScore-F1", "CLAP-S", "CLIP-S", "video-S", "judge_audible_probability"]


def plot_per_item_scores(report: MetricReport, predictions: dict, path: Path) -> Path | None:
    """One histogram per per-item score that the run has (and the guide's classifier score)."""
    series: dict[str, list[float]] = {}
    # Tagger encoders report their cosine as SPEC-S (metrics.similarity).
    similarity = sorted({name for scores in report.per_item.values() for name in scores if name.endswith("-S")})
    for name in dict.fromkeys(PLOTTED + similarity):
        values = [scores[name] for scores in report.per_item.values() if name in scores]
        if values:
            series[name] = values
    guide = [row.classifier_score for row in predictions.values() if row.classifier_score is not None]
    if guide:
        series["guide classifier score"] = guide
    if not series:
        return None
    figure, axes = plt.subplots(1, len(series), figsize=(3.2 * len(series), 2.8), squeeze=False)
    for axis, (name, values) in zip(axes[0], series.items()):
        axis.hist(values, bins=min(20, max(5, len(values))))
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("per-item score")
    axes[0][0].set_ylabel("items")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_sweep(key: str, values: list[float | str], metrics: list[dict[str, float]], path: Path) -> Path | None:
    """Each metric against the swept setting's value, one panel per metric."""
    names = sorted({name for row in metrics for name in row if not name.startswith("items_")})
    if not names:
        return None
    columns = min(4, len(names))
    rows = (len(names) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.6 * rows), squeeze=False)
    numeric = all(isinstance(v, (int, float)) for v in values)
    positions = values if numeric else list(range(len(values)))
    for axis, name in zip(axes.flat, names):
        points = [(x, row[name]) for x, row in zip(positions, metrics) if name in row]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        axis.set_title(name, fontsize=9)
        axis.set_xlabel(key, fontsize=8)
        if not numeric:
            axis.set_xticks(positions, [str(v) for v in values], fontsize=7)
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
