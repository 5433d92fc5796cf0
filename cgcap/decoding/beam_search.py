"""Beam search on mean log-probability, as ZeroCap does it.

A finished beam (it wrote the end token) stays in the search with its score frozen: its
only continuation is the end token again at log-probability 0, which does not count
towards its length.
"""

from __future__ import annotations

import torch


class BeamSearch:
    def __init__(self, beam_size: int, end_token_id: int):
        self.beam_size = beam_size
        self.end_token_id = end_token_id
        self.scores: torch.Tensor | None = None  # [beams] summed log-probability of the caption tokens
        self.lengths: torch.Tensor | None = None  # [beams] caption tokens written, the end token included
        self.finished: torch.Tensor | None = None  # [beams] bool
        self.generated: torch.Tensor | None = None  # [beams, steps] caption token ids (padded after the end)

    def advance(self, log_p: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step. ``log_p`` is ``[beams, vocab]``; returns (source row of each new beam, its new token)."""
        log_p = log_p.float().cpu()
        if self.scores is None:  # first step: one context, the k best tokens start the beams
            self.scores, next_tokens = log_p[0].topk(self.beam_size)
            source = torch.zeros(self.beam_size, dtype=torch.long)
            self.lengths = torch.ones(self.beam_size)
            self.finished = torch.zeros(self.beam_size, dtype=torch.bool)
            self.generated = next_tokens[:, None]
        else:
            log_p = log_p.clone()
            log_p[self.finished] = -float("inf")
            log_p[self.finished, self.end_token_id] = 0.0
            totals = self.scores[:, None] + log_p
            lengths = self.lengths + (~self.finished).float()
            mean = totals / lengths[:, None]
            best_mean, flat = mean.view(-1).topk(self.beam_size)
            vocab = log_p.shape[1]
            source, next_tokens = flat // vocab, flat % vocab
            self.lengths = lengths[source]
            self.scores = best_mean * self.lengths
            self.finished = self.finished[source]
            self.generated = torch.cat([self.generated[source], next_tokens[:, None]], dim=1)
        self.finished = self.finished | next_tokens.eq(self.end_token_id)
        return source, next_tokens

    @property
    def done(self) -> bool:
        return bool(self.finished.all())

    def captions(self) -> list[tuple[list[int], float, bool]]:
        """(caption token ids, mean log-probability, finished) per beam."""
        return [
            (self.generated[b, : int(self.lengths[b])].tolist(), float(self.scores[b] / self.lengths[b]), bool(self.finished[b]))
            for b in range(self.generated.shape[0])
        ]
