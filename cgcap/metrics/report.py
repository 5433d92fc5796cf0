"""What every metric function returns: corpus figures, per-item figures, and what could not be computed."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MetricReport(BaseModel):
    corpus: dict[str, float] = Field(default_factory=dict)
    per_item: dict[str, dict[str, float]] = Field(default_factory=dict)  # item id -> metric -> value
    # Metric name -> why it is missing. Never reported as 0: a 0 would read as a bad caption.
    unavailable: dict[str, str] = Field(default_factory=dict)
    # Item id -> metric -> why the item scored as it did (e.g. a caption's well-formedness failures).
    reasons: dict[str, dict[str, list[str]]] = Field(default_factory=dict)

    def merge(self, other: "MetricReport") -> "MetricReport":
        return MetricReport(
            corpus={**self.corpus, **other.corpus},
            per_item=_merged(self.per_item, other.per_item),
            unavailable={**self.unavailable, **other.unavailable},
            reasons=_merged(self.reasons, other.reasons),
        )


def _merged(first: dict[str, dict], second: dict[str, dict]) -> dict[str, dict]:
    """Per item, the metrics of both (``second``'s value where both have one)."""
    merged = {key: dict(values) for key, values in first.items()}
    for key, values in second.items():
        merged.setdefault(key, {}).update(values)
    return merged
