"""ZeroCap's logit rules as objects, built once per caption from its settings.

Each rule moves the shifted logits of one input's beams before fusion (``LogitRules``,
in the spirit of transformers' ``LogitsProcessorList``): the loop calls the list and
never asks which settings are on. A rule scales a logit away from being picked by
dividing a positive logit (or multiplying a negative one) by a factor > 1.

A rule sees one input's rows only (``Rows``): in a batch of inputs each input keeps its
own step, tokens and content words, so one loop can carry many captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from cgcap.config import DecodingSettings
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.vocabulary import Vocabulary

START_END_FACTOR = 1.6  # ZeroCap: the end token is discouraged at the first caption token
REPETITION_WINDOW = 4  # ZeroCap: the repetition penalty looks at the last 4 tokens


@dataclass
class Rows:
    """One input's beams at one step, as the rules see them."""

    step: int  # caption tokens written so far
    tokens: torch.Tensor  # [beams, length]: start token, prompt and caption so far
    caption_ids: list[list[int]]  # per beam: the caption's tokens so far
    forced: list[int | None]  # per beam: the token finishing a content word it has begun, else None


def discourage(logits: torch.Tensor, factor: float) -> torch.Tensor:
    return torch.where(logits > 0, logits / factor, logits * factor)


class RepetitionPenalty:
    """Tokens among each beam's last four are discouraged (ZeroCap's optional rule)."""

    def __init__(self, factor: float):
        self.factor = factor

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        for beam, recent in enumerate(rows.tokens[:, -REPETITION_WINDOW:].tolist()):
            ids = torch.tensor(sorted(set(recent)), device=logits.device)
            logits[beam, ids] = discourage(logits[beam, ids], self.factor)
        return logits


class EndToken:
    """ZeroCap's end-token factor (÷1.6 before the first caption token), and an optional ramp: the end
    token's odds grow by exp(ramp) per token written, so captions end on their own where the LM's own end
    token barely moves."""

    def __init__(self, end_id: int, factor: float, ramp: float):
        self.end_id, self.factor, self.ramp = end_id, factor, ramp

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        end = logits[:, self.end_id]
        if rows.step >= 1:
            logits[:, self.end_id] = torch.where(end > 0, end * self.factor, end * (1.0 / self.factor))
            if self.ramp > 0:
                logits[:, self.end_id] += self.ramp * rows.step
        else:
            logits[:, self.end_id] = discourage(end, START_END_FACTOR)
        return logits


class FirstWordApart:
    """The caption's first token starts a word: "Audio of a" + "While" would write "aWhile"."""

    def __init__(self, glued_ids: torch.Tensor, factor: float):
        self.glued_ids, self.factor = glued_ids, factor

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        if rows.step == 0:
            glued = self.glued_ids.to(logits.device)
            logits[:, glued] = discourage(logits[:, glued], self.factor)
        return logits


class Discouraged:
    """A fixed set of tokens made unlikely at every step: the vocabulary's forbidden pieces (digits,
    markup), or whitespace-only tokens, which start no word and write "Audio of a  buzz"."""

    def __init__(self, ids: torch.Tensor, factor: float):
        self.ids, self.factor = ids, factor

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        ids = self.ids.to(logits.device)
        logits[:, ids] = discourage(logits[:, ids], self.factor)
        return logits


class ContentWordsWhole:
    """A beam that has just written a whole content word does not glue letters onto it ("ski" + "able"),
    and does not write a content word again: each repeat raises the cosine with the input."""

    def __init__(self, content: ContentCandidates, continuation_ids: torch.Tensor, factor: float):
        self.content, self.continuation_ids, self.factor = content, continuation_ids, factor

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        content = self.content
        ended = [beam for beam, ids in enumerate(rows.caption_ids)
                 if rows.forced[beam] is None and content.ends_word(ids)]
        if ended:
            beams, letters = torch.tensor(ended, device=logits.device), self.continuation_ids.to(logits.device)
            logits[beams[:, None], letters] = discourage(logits[beams[:, None], letters], self.factor)
        for beam, ids in enumerate(rows.caption_ids):
            if rows.forced[beam] is None and (again := content.written(ids)):
                again = torch.tensor(again, device=logits.device)
                logits[beam, again] = discourage(logits[beam, again], self.factor)
        return logits


class OneName:
    """A caption names the input once, then ends.

    - At the first caption token each name's first token gains up to ``first_bonus`` on the logit scale:
      the LM's most probable first words name nothing. The bonus follows the modality target among the
      names: a name whose score is below the best name's by d gets ``first_bonus - d / temperature`` (at
      least 0), so the LM's own preference among the names does not outweigh the input.
    - Right after a beam completes a name its end token gains ``end_bonus``.
    - Once a beam has written a name, every name's first token is discouraged: the modality target
      rewards each further name, so unchecked the names pile up.
    ``name_scores`` gives the modality scores of the names after the prompt (None: not known, a flat bonus).
    """

    def __init__(self, content: ContentCandidates, end_id: int, end_bonus: float, factor: float,
                 first_bonus: float = 0.0, temperature: float = 1.0,
                 name_scores: Callable[[], torch.Tensor | None] | None = None):
        self.content, self.end_id, self.end_bonus, self.factor = content, end_id, end_bonus, factor
        self.first_bonus, self.temperature, self.name_scores = first_bonus, temperature, name_scores
        self.firsts = torch.tensor(content.all_firsts, dtype=torch.long)

    def first_bonuses(self) -> torch.Tensor:
        """Per name (``content.first_ids``), the bonus of its first token at the first caption token."""
        scores = self.name_scores() if self.name_scores is not None else None
        if scores is None:
            return torch.full((len(self.content.first_ids),), self.first_bonus)
        return (self.first_bonus + (scores - scores.max()) / self.temperature).clamp(min=0.0)

    def __call__(self, logits: torch.Tensor, rows: Rows) -> torch.Tensor:
        if rows.step == 0 and self.first_bonus and self.content.first_ids:
            ids = torch.tensor(self.content.first_ids, device=logits.device)
            logits[:, ids] += self.first_bonuses().to(logits.device, logits.dtype)
        named = [beam for beam, ids in enumerate(rows.caption_ids)
                 if rows.forced[beam] is None and self.content.written(ids)]
        if not named or not len(self.firsts):
            return logits
        beams, firsts = torch.tensor(named, device=logits.device), self.firsts.to(logits.device)
        logits[beams[:, None], firsts] = discourage(logits[beams[:, None], firsts], self.factor)
        just = [beam for beam in named if self.content.ends_word(rows.caption_ids[beam])]
        if just and self.end_bonus:
            logits[torch.tensor(just, device=logits.device), self.end_id] += self.end_bonus
        return logits


def force(log_p: torch.Tensor, forced: list[int | None]) -> torch.Tensor:
    """Each beam with a forced token writes it (log-probability 0), whatever the distribution says: a content
    word begun is finished, because its first token was scored as the whole word."""
    for beam, token in enumerate(forced):
        if token is not None:
            log_p[beam] = -float("inf")
            log_p[beam, token] = 0.0
    return log_p


def fuse(shifted_logits: torch.Tensor, log_q: torch.Tensor, fusion: float) -> torch.Tensor:
    """``log normalise(softmax(logits) ** fusion · q ** (1 − fusion))`` per beam."""
    mixed = fusion * torch.log_softmax(shifted_logits, dim=-1) + (1.0 - fusion) * log_q
    return torch.log_softmax(mixed, dim=-1)


class LogitRules(list):
    """The rules of one caption, in ZeroCap's order; ``next_token_log_probs`` is what beam search reads."""

    def __init__(self, rules, fusion: float, content: ContentCandidates | None):
        super().__init__(rules)
        self.fusion = fusion
        self.content = content

    def forced(self, caption_ids: list[list[int]]) -> list[int | None]:
        """Per beam, the token that finishes a content word it has begun (None: the beam is free)."""
        if self.content is None:
            return [None] * len(caption_ids)
        return [self.content.forced_next(ids) for ids in caption_ids]

    def next_token_log_probs(self, logits: torch.Tensor, log_q: torch.Tensor, rows: Rows) -> torch.Tensor:
        """The shifted logits through every rule, fused with the unshifted q, content words completed."""
        for rule in self:
            logits = rule(logits, rows)
        fused = fuse(logits, log_q, self.fusion)
        return force(fused, rows.forced) if self.content is not None else fused


def build_rules(settings: DecodingSettings, vocabulary: Vocabulary, end_token_id: int, forbidden_ids: torch.Tensor,
                content: ContentCandidates | None,
                name_scores: Callable[[], torch.Tensor | None] | None = None) -> LogitRules:
    """The rules these settings turn on, once per caption (``content``: the input's own words, if they are
    candidates)."""
    s = settings
    rules: list = []
    if s.repetition_penalty != 1.0:
        rules.append(RepetitionPenalty(s.repetition_penalty))
    rules.append(EndToken(end_token_id, s.end_factor, s.end_ramp))
    if s.first_word_apart:
        rules.append(FirstWordApart(vocabulary.glued_ids, s.forbidden_factor))
        if len(vocabulary.blank_ids):
            rules.append(Discouraged(vocabulary.blank_ids, s.forbidden_factor))
    rules.append(Discouraged(forbidden_ids, s.forbidden_factor))
    if content is not None:
        rules.append(ContentWordsWhole(content, vocabulary.letter_continuation_ids, s.forbidden_factor))
        if s.one_name:
            rules.append(OneName(content, end_token_id, s.name_end_bonus, s.forbidden_factor, s.name_first_bonus,
                                 s.modality_temperature, name_scores))
    return LogitRules(rules, s.fusion, content)
