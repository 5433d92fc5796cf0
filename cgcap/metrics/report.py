"""What every metric function returns: corpus figures, per-item figures, and what could not be computed."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MetricReport(BaseModel):
    corpus: dict[str, float] = Field(default_factory=dict)
    per_item: dict[str, dict[str, float]] = Field(default_factory=dict)  # item id -> metric -> value
    # Metric name -> why it is missing. Never reported as 0: a 0 would read as a bad caption.
    unavailable: dict[str, str] = Field(default_factory=dict)

    def merge(self, other: "MetricReport") -> "MetricReport":
        per_item = {key: dict(values) for key, values in self.per_item.items()}
        for key, values in other.per_item.items():
            per_item.setdefault(key, {}).update(values)
        return MetricReport(
            corpus={**self.corpus, **other.corpus},
            per_item=per_item,
            unavailable={**self.unavailable, **other.unavailable},
        )
