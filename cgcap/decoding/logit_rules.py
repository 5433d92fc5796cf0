"""ZeroCap's rules on the shifted logits, then fusion with the unshifted distribution.

Each rule scales a logit away from or towards being picked: dividing a positive logit
(or multiplying a negative one) by a factor > 1 makes the token less likely.
"""

from __future__ import annotations

import torch

from cgcap.config import DecodingSettings

START_END_FACTOR = 1.6  # ZeroCap: the end token is discouraged at the first caption token
REPETITION_WINDOW = 4  # ZeroCap: the repetition penalty looks at the last 4 tokens


def _discourage(logits: torch.Tensor, factor: float) -> torch.Tensor:
    return torch.where(logits > 0, logits / factor, logits * factor)


def apply_logit_rules(
    logits: torch.Tensor,  # [beams, vocab], changed in place and returned
    tokens: torch.Tensor,  # [beams, length]: start token, prompt and caption so far
    step: int,
    settings: DecodingSettings,
    end_token_id: int,
    forbidden_ids: torch.Tensor,
) -> torch.Tensor:
    if settings.repetition_penalty != 1.0:
        for beam, recent in enumerate(tokens[:, -REPETITION_WINDOW:].tolist()):
            ids = torch.tensor(sorted(set(recent)), device=logits.device)
            logits[beam, ids] = _discourage(logits[beam, ids], settings.repetition_penalty)
    end = logits[:, end_token_id]
    if step >= 1:
        logits[:, end_token_id] = torch.where(end > 0, end * settings.end_factor, end * (1.0 / settings.end_factor))
    else:
        logits[:, end_token_id] = _discourage(end, START_END_FACTOR)
    forbidden = forbidden_ids.to(logits.device)
    logits[:, forbidden] = _discourage(logits[:, forbidden], settings.forbidden_factor)
    return logits


def fuse(shifted_logits: torch.Tensor, log_q: torch.Tensor, fusion: float) -> torch.Tensor:
    """``log normalise(softmax(logits) ** fusion · q ** (1 − fusion))`` per beam."""
    mixed = fusion * torch.log_softmax(shifted_logits, dim=-1) + (1.0 - fusion) * log_q
    return torch.log_softmax(mixed, dim=-1)
