"""The input's own words among the candidates (issue 10: a tagger encoder's class names).

L_mod can only favour a candidate that is in T = topk(p, k). After "Audio of a" SmolLM2
ranks " phone" 1,848th and " telephone" 5,242nd, so with k = 64 the modality term never
sees the word that names a ringing phone. A tagger knows that word: the names of its most
probable classes. These join T (taking the places of the least probable top-k tokens, so
k and the cost stay the same); the target softmax(a / tau) still decides, by cosine,
whether any of them is the better candidate. A word of several tokens offers its next
token once a beam has written its first ones.
"""

from __future__ import annotations

import torch


class ContentCandidates:
    def __init__(self, words: list[str], tokenizer):
        self.words: list[list[str]] = []  # per word: its token pieces as written after a space
        self.first_ids: list[int] = []
        self.continuations: list[tuple[str, int]] = []  # (text a beam ends with, next token id)
        for word in dict.fromkeys(w.strip().lower() for w in words if w.strip()):
            ids = tokenizer.encode(" " + word, add_special_tokens=False)
            if not ids:
                continue
            self.first_ids.append(ids[0])
            for end in range(1, len(ids)):
                self.continuations.append((tokenizer.decode(ids[:end]), ids[end]))
        self.first_ids = list(dict.fromkeys(self.first_ids))

    def __bool__(self) -> bool:
        return bool(self.first_ids)

    def ids_for(self, prefix: str) -> list[int]:
        """Token ids to add to this beam's candidates, given its text so far."""
        extra = [token for written, token in self.continuations if prefix.endswith(written)]
        return list(dict.fromkeys(extra + self.first_ids))

    def top_with_content(self, log_p: torch.Tensor, k: int, prefixes: list[str]) -> torch.Tensor:
        """``[beams, k]``: the content tokens first, then the most probable others."""
        priority = log_p.detach().clone()
        for row, prefix in enumerate(prefixes):
            ids = self.ids_for(prefix)[:k]
            priority[row, torch.tensor(ids, device=priority.device)] = float("inf")
        return priority.topk(k, dim=-1).indices
