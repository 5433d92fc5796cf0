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
    glued_ids: torch.Tensor | None = None,  # tokens that continue the previous word (no leading space)
    blank_ids: torch.Tensor | None = None,  # whitespace-only tokens
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
    if step >= 1 and settings.end_ramp > 0:
        # The end token's odds grow by exp(end_ramp) per token written: short captions that end on
        # their own, where ZeroCap's 1.01 barely moves SmolLM2's end token (issue 10).
        logits[:, end_token_id] += settings.end_ramp * step
    if step == 0 and settings.first_word_apart and glued_ids is not None:
        # "Audio of a" + "While" would write "aWhile": the caption's first token starts a word.
        glued = glued_ids.to(logits.device)
        logits[:, glued] = _discourage(logits[:, glued], settings.forbidden_factor)
    if settings.first_word_apart and blank_ids is not None and len(blank_ids):
        # A bare " " starts no word either, and before a spaced word it writes "Audio of a  buzz".
        blank = blank_ids.to(logits.device)
        logits[:, blank] = _discourage(logits[:, blank], settings.forbidden_factor)
    forbidden = forbidden_ids.to(logits.device)
    logits[:, forbidden] = _discourage(logits[:, forbidden], settings.forbidden_factor)
    return logits


def keep_content_words_whole(
    logits: torch.Tensor,  # [beams, vocab] before fusion, changed in place
    caption_ids: list[list[int]],  # per beam: the caption's tokens so far
    forced: list[int | None],  # per beam: the token finishing a content word it has begun
    content,  # ContentCandidates
    continuation_ids: torch.Tensor,  # the vocabulary's letter continuations
    factor: float,
) -> torch.Tensor:
    """A beam that has just written a whole content word does not glue letters onto it ("ski" + "able"),
    and does not write a content word twice ("speech speech")."""
    ended = [beam for beam, ids in enumerate(caption_ids) if forced[beam] is None and content.ends_word(ids)]
    if ended:
        rows, letters = torch.tensor(ended, device=logits.device), continuation_ids.to(logits.device)
        logits[rows[:, None], letters] = _discourage(logits[rows[:, None], letters], factor)
    for beam, ids in enumerate(caption_ids):
        if forced[beam] is None and (again := content.written(ids)):
            again = torch.tensor(again, device=logits.device)
            logits[beam, again] = _discourage(logits[beam, again], factor)
    return logits


def force(log_p: torch.Tensor, forced: list[int | None]) -> torch.Tensor:
    """Each beam with a forced token writes it (log-probability 0), whatever the distribution says."""
    for beam, token in enumerate(forced):
        if token is not None:
            log_p[beam] = -float("inf")
            log_p[beam, token] = 0.0
    return log_p


def fuse(shifted_logits: torch.Tensor, log_q: torch.Tensor, fusion: float) -> torch.Tensor:
    """``log normalise(softmax(logits) ** fusion · q ** (1 − fusion))`` per beam."""
    mixed = fusion * torch.log_softmax(shifted_logits, dim=-1) + (1.0 - fusion) * log_q
    return torch.log_softmax(mixed, dim=-1)
