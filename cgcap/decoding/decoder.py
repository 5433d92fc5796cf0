"""The guided decoder: docs/ALGORITHM.md's loop, with its exact speed-ups.

Read it beside the pseudo-code in docs/ALGORITHM.md. The speed-ups: the context cache runs
along (extended by one token per step instead of recomputed), Δ stays on the LM's
device, all beams' candidates go to a scorer in one call, and each distinct candidate
text is scored once per caption (``CachedScorer``).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from cgcap.config import DecodingSettings, SettingsError
from cgcap.decoding.beam_search import BeamSearch
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.context_cache import ContextCache, KeyValue
from cgcap.decoding.guidance import Guidance, wanted_probability
from cgcap.decoding.logit_rules import apply_logit_rules, force, fuse, keep_content_words_whole
from cgcap.decoding.prompts import with_article
from cgcap.decoding.result import Beam, CaptionResult
from cgcap.decoding.score_cache import CachedScorer
from cgcap.decoding.scoring import CandidateScorer
from cgcap.decoding.vocabulary import vocabulary_of
from cgcap.models import LoadedModel

# on_token(step, texts): the text of every beam after each token, e.g. for progress output.
TokenCallback = Callable[[int, list[str]], None]
# should_stop(): asked before each token; True ends the caption with CaptionCancelled (e.g. the client left).
StopCheck = Callable[[], bool]


class CaptionCancelled(Exception):
    """The caller asked the decoder to stop (``should_stop``); no caption is returned."""

    def __init__(self, tokens: int):
        super().__init__(f"caption cancelled after {tokens} tokens")
        self.tokens = tokens


def ranked(beams: list[Beam]) -> list[Beam]:
    """ZeroCap's pick first: finished beams before unfinished ones, then the best modality score
    (text-only: the best LM score). A finished beam beats an unfinished one with a better score."""
    def rank(beam: Beam) -> tuple[bool, float]:
        return beam.finished, beam.modality_score if beam.modality_score is not None else beam.lm_score

    return sorted(beams, key=rank, reverse=True)


class ContextCacheOptimizer:
    """Nudges the context cache by Δ so the next token better satisfies the guidance loss."""

    def __init__(self, model, settings: DecodingSettings):
        self.model = model
        self.settings = settings
        self.iterations_run = 0  # Δ updates made, over all tokens (early_stop makes fewer)

    def shift(
        self,
        context: ContextCache,
        last: torch.Tensor,  # [beams, 1]
        loss_of: Callable[[torch.Tensor], torch.Tensor],  # log p -> scalar loss
        delta: list[KeyValue],  # the zero Δ the first logits were computed at
        logits: torch.Tensor,  # [beams, vocab] at C + Δ, with its autograd graph back to Δ
    ) -> tuple[list[KeyValue], torch.Tensor | None]:
        """Δ after the iterations, and the logits at C + Δ when early stopping already computed them."""
        s = self.settings
        flat = [tensor for pair in delta for tensor in pair]
        previous_top = None
        for iteration in range(s.num_iterations):
            if iteration > 0:
                logits = self.model(last, cache=context.shifted(delta), use_cache=True).logits[:, -1].float()
            if s.stops_early:
                top = logits.detach().argmax(dim=-1)
                if previous_top is not None and torch.equal(top, previous_top):
                    return self._detached(delta), logits.detach()  # already at the final Δ: no more forward
                previous_top = top
            loss = loss_of(torch.log_softmax(logits, dim=-1))
            self.iterations_run += 1
            gradients = torch.autograd.grad(loss, flat, allow_unused=True)
            with torch.no_grad():
                for tensor, gradient in zip(flat, gradients):
                    if gradient is None:
                        continue
                    # Normalised per beam and per tensor (ZeroCap): Δ -= step · g / (‖g‖ + 1e-15) ** factor.
                    norm = gradient.flatten(1).norm(dim=1).view(-1, *[1] * (gradient.dim() - 1))
                    tensor -= s.step_size * gradient / (norm + 1e-15) ** s.grad_norm_factor
        return self._detached(delta), None

    @staticmethod
    def _detached(delta: list[KeyValue]) -> list[KeyValue]:
        return [(k.detach(), v.detach()) for k, v in delta]


class GuidedDecoder:
    """A frozen causal LM writing one caption, steered by a modality scorer and a classifier scorer."""

    def __init__(self, lm: LoadedModel, settings: DecodingSettings):
        if lm.kind != "causal-lm":
            raise SettingsError(f"model {lm.spec!r} is a {lm.kind}, not a causal language model")
        if not isinstance(settings, DecodingSettings):
            settings = DecodingSettings.model_validate(settings)
        self.lm = lm
        self.model = lm.model
        self.settings = settings
        self.vocabulary = vocabulary_of(lm)
        if settings.top_k > self.vocabulary.size:
            raise SettingsError(
                f"decoding.top_k = {settings.top_k} is larger than the vocabulary of {lm.spec!r} "
                f"({self.vocabulary.size} tokens)"
            )
        if settings.beam_size > self.vocabulary.size:
            raise SettingsError(f"decoding.beam_size = {settings.beam_size} is larger than the vocabulary")
        self.prompt_ids = self.vocabulary.prompt_ids(settings.prompt)
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions and len(self.prompt_ids) + settings.max_tokens > positions:
            raise SettingsError(
                f"the prompt ({len(self.prompt_ids)} tokens) plus decoding.max_tokens ({settings.max_tokens}) "
                f"exceeds the {positions} positions of {lm.spec!r}"
            )
        self.end_token_id = self.vocabulary.end_token_id(settings.end_token)
        forbidden = self.vocabulary.forbidden_ids
        self.forbidden_ids = forbidden[forbidden != self.end_token_id]  # a caption must be able to end
        # Frozen: gradients flow to Δ only.
        for parameter in self.model.parameters():
            parameter.requires_grad_(False)
        self.device = next(self.model.parameters()).device
        self.optimizer = ContextCacheOptimizer(self.model, settings)

    def caption(
        self,
        modality_scorer: CandidateScorer | None,
        classifier_scorer: CandidateScorer | None,
        on_token: TokenCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> CaptionResult:
        started = time.perf_counter()
        self.optimizer.iterations_run = 0
        modality = CachedScorer(modality_scorer, "modality") if modality_scorer is not None else None
        classifier = CachedScorer(classifier_scorer, "classifier") if classifier_scorer is not None else None
        content = None
        if self.settings.content_candidates and modality_scorer is not None:
            content = ContentCandidates(list(getattr(modality_scorer, "content_words", None) or []),
                                        self.vocabulary.tokenizer)
        guidance = Guidance(self.settings, self.vocabulary.pieces, modality, classifier, content)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.settings.seed)
            beams = self._decode(guidance, on_token, should_stop)
        seconds = time.perf_counter() - started
        result = self._result(beams, modality, classifier)
        steps = beams.generated.shape[1]
        scorers = [c for c in (modality, classifier) if c is not None]
        result.timings = {"decode": seconds, "scoring": sum(c.seconds for c in scorers),
                          "seconds_per_token": seconds / steps, "tokens": float(steps),
                          "iterations_per_token": self.optimizer.iterations_run / steps,
                          # distinct candidate texts each scorer had to score, per token (what scoring costs)
                          "texts_scored_per_token": max((c.texts_scored for c in scorers), default=0) / steps}
        return result

    def _forward(self, last: torch.Tensor, cache) -> tuple[torch.Tensor, object]:
        with torch.no_grad():
            output = self.model(last, cache=cache, use_cache=True)
        return output.logits[:, -1].float(), output.cache

    def _decode(self, guidance: Guidance, on_token: TokenCallback | None, should_stop: StopCheck | None) -> BeamSearch:
        s, config = self.settings, self.model.config
        tokens = torch.tensor([self.prompt_ids], device=self.device)  # [beams, length], start token first
        beams = BeamSearch(s.beam_size, self.end_token_id)
        with torch.no_grad():
            prefix = self.model(tokens[:, :-1], use_cache=True).cache
        context = ContextCache.from_past(prefix, config)  # C: the cache of tokens[:-1]
        content = guidance.content
        for step in range(s.max_tokens):
            if should_stop is not None and should_stop():
                raise CaptionCancelled(step)
            last = tokens[:, -1:]
            active = ~beams.finished if beams.finished is not None else torch.ones(tokens.shape[0], dtype=torch.bool)
            rows = tokens.tolist()
            caption_ids = [row[len(self.prompt_ids):] for row in rows]
            forced = [content.forced_next(ids) for ids in caption_ids] if content is not None else None
            if forced is not None and all(f is not None for f, on in zip(forced, active.tolist()) if on):
                active = torch.zeros_like(active)  # every beam finishes a word it began: nothing to steer
            steering = guidance.steers and s.num_iterations > 0 and bool(active.any())
            if steering:
                # q is the LM at Δ = 0, which is also the first iteration's forward: one pass, with its graph
                # to Δ kept for the first gradient (C + 0 is C exactly). It also extends the cache by the last token.
                delta = context.zeros_like()
                output = self.model(last, cache=context.shifted(delta), use_cache=True)
                first_logits, extended = output.logits[:, -1].float(), output.cache
                q_logits = first_logits.detach()
            else:
                q_logits, extended = self._forward(last, context.shifted())
            log_q = torch.log_softmax(q_logits, dim=-1)

            if steering:
                prefixes = [self.vocabulary.text(row[1:]) for row in rows]
                # score_once: the unshifted top-k, scored once, is every iteration's target.
                fixed = guidance.candidates(log_q, prefixes, active) if s.scores_once else None
                delta, logits = self.optimizer.shift(
                    context, last, lambda log_p: guidance.loss(log_p, log_q, prefixes, active, fixed),
                    delta, first_logits,
                )
                if logits is None:
                    logits, _ = self._forward(last, context.shifted(delta))
            else:
                logits = q_logits.clone()

            logits = apply_logit_rules(logits, tokens, step, s, self.end_token_id, self.forbidden_ids,
                                       self.vocabulary.glued_ids if s.first_word_apart else None,
                                       self.vocabulary.blank_ids if s.first_word_apart else None)
            if content is not None:
                logits = keep_content_words_whole(logits, caption_ids, forced, content,
                                                  self.vocabulary.letter_continuation_ids, s.forbidden_factor)
            fused = fuse(logits, log_q, s.fusion)
            if content is not None:  # a content word begun is finished: it was scored as the whole word
                fused = force(fused, forced)
            source, next_tokens = beams.advance(fused)
            source, next_tokens = source.to(self.device), next_tokens.to(self.device)
            context = ContextCache.from_past(extended, config).select_beams(source)
            tokens = torch.cat([tokens.index_select(0, source), next_tokens[:, None]], dim=1)
            if on_token is not None:
                on_token(step, [self.vocabulary.text(row[1:]) for row in tokens.tolist()])
            if beams.done:
                break
        return beams

    def _result(self, beams: BeamSearch, modality: CachedScorer | None, classifier: CachedScorer | None) -> CaptionResult:
        prompt = self.prompt_ids[1:]
        texts, found = [], []
        for ids, lm_score, finished in beams.captions():
            texts.append(self.vocabulary.text(prompt + ids))
            found.append(Beam(text=texts[-1], tokens=ids, lm_score=lm_score, finished=finished))
        # The final texts were candidates at the last step, so these are mostly cache hits.
        if modality is not None:
            for beam, score in zip(found, modality.score(texts).tolist()):
                beam.modality_score = score
        if classifier is not None:
            for beam, score in zip(found, wanted_probability(classifier, texts, self.settings.wanted_label).tolist()):
                beam.classifier_score = score
        if self.settings.article:  # after scoring: the scorers saw (and cached) the texts as decoded
            for beam in found:
                beam.text = with_article(beam.text, self.settings.prompt)
        found = ranked(found)
        return CaptionResult(
            prompt=self.settings.prompt,
            caption=found[0].text,
            beams=found,
            model_ids={"language_model": self.lm.spec},
            settings={"decoding": self.settings.model_dump()},
        )
