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


def plot_quality_vs_seconds(rows: list[dict], metrics: list[str], path: Path) -> Path | None:
    """Each quality metric against seconds per caption, one point per setting, labelled (e.g. n = 5)."""
    metrics = [name for name in metrics if any(name in row["metrics"] for row in rows)]
    if not metrics:
        return None
    figure, axes = plt.subplots(1, len(metrics), figsize=(3.4 * len(metrics), 2.8), squeeze=False)
    for axis, name in zip(axes[0], metrics):
        points = [(row["seconds_per_item"], row["metrics"][name], row["label"]) for row in rows
                  if name in row["metrics"] and row["seconds_per_item"] is not None]
        axis.plot([p[0] for p in points], [p[1] for p in points], marker="o")
        for x, y, label in points:
            axis.annotate(label, (x, y), fontsize=7, textcoords="offset points", xytext=(3, 3))
        axis.set_title(name, fontsize=9)
        axis.set_xlabel("seconds per caption", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_matrix(rows: list[str], columns: list[str], values: list[list[float | None]], title: str,
                path: Path) -> Path:
    """A heat map with each cell's value written in it (e.g. classifier x modality gains)."""
    import numpy as np

    grid = np.array([[np.nan if v is None else v for v in row] for row in values], dtype=float)
    figure, axis = plt.subplots(figsize=(1.8 + 1.6 * len(columns), 1.2 + 0.7 * len(rows)))
    limit = np.nanmax(np.abs(grid)) if np.isfinite(grid).any() else 1.0
    axis.imshow(grid, cmap="RdBu", vmin=-limit or -1.0, vmax=limit or 1.0)
    axis.set_xticks(range(len(columns)), columns, fontsize=8)
    axis.set_yticks(range(len(rows)), rows, fontsize=8)
    for i, row in enumerate(values):
        for j, value in enumerate(row):
            axis.text(j, i, "-" if value is None else f"{value:+.3f}", ha="center", va="center", fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_accuracy_bars(labels: list[str], series: dict[str, list[float | None]], thresholds: dict[str, float],
                       path: Path) -> Path:
    """Grouped bars (e.g. real and synthetic accuracy per classifier) with the thresholds as lines."""
    figure, axis = plt.subplots(figsize=(2.0 + 1.4 * len(labels), 3.0))
    width = 0.8 / max(1, len(series))
    for index, (name, values) in enumerate(series.items()):
        positions = [i + index * width for i in range(len(labels))]
        axis.bar(positions, [float("nan") if v is None else v for v in values], width, label=name)
    for name, value in thresholds.items():
        axis.axhline(value, linestyle="--", linewidth=1, color="grey")
        axis.text(len(labels) - 0.5, value, name, fontsize=7, va="bottom", ha="right")
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(labels))], labels, fontsize=7)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
