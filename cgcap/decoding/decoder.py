"""The guided decoder: docs/ALGORITHM.md's loop, for one caption or many in one loop.

Read ``DecodeBatch.step`` beside the pseudo-code in docs/ALGORITHM.md. The rows of the
batch are (input, beam) pairs: every input keeps its own scorers, rules, beams and step,
and the language model runs all rows in one pass. Each input's loss depends on its own
rows only and the gradient is normalised per row, so a batch computes what each input
would alone, up to the floating point of a wider matrix product.

The exact speed-ups: the context cache runs along (extended by one token per step
instead of recomputed), Δ stays on the LM's device, all candidates of a step go to each
shared scorer model in one call, and each distinct candidate text is scored once per
caption (``CachedScorer``).
"""

from __future__ import annotations

import time
from typing import Callable

import torch

from cgcap.config import DecodingSettings, SettingsError
from cgcap.decoding.beam_search import BeamSearch
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.context_cache import ContextCache, KeyValue
from cgcap.decoding.guidance import Candidates, Guidance, score_candidates, wanted_probability
from cgcap.decoding.articles import with_article
from cgcap.decoding.result import Beam, CaptionResult
from cgcap.decoding.rules import LogitRules, Rows, build_rules
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


def ranked(beams: list[Beam], fluency_weight: float = 0.0) -> list[Beam]:
    """ZeroCap's pick first: finished beams before unfinished ones, then the best modality score
    (text-only: the best LM score). A finished beam beats an unfinished one with a better score.
    With ``fluency_weight``, the unsteered LM's mean log-probability per token counts too, so a beam that
    stacks names the LM would never write loses to a phrase that names the input almost as well."""
    def rank(beam: Beam) -> tuple[bool, float]:
        score = beam.modality_score if beam.modality_score is not None else beam.lm_score
        if fluency_weight and beam.fluency is not None:
            score += fluency_weight * beam.fluency
        return beam.finished, score

    return sorted(beams, key=rank, reverse=True)


class CaptionJob:
    """One input's caption in a batch: its guidance, rules, beams and text so far."""

    def __init__(self, decoder: "GuidedDecoder", modality: CachedScorer | None, classifier: CachedScorer | None,
                 on_token: TokenCallback | None = None, should_stop: StopCheck | None = None):
        s = decoder.settings
        self.decoder, self.settings = decoder, s
        self.modality, self.classifier = modality, classifier
        content = None
        if s.content_candidates and modality is not None:
            content = ContentCandidates(list(getattr(modality.scorer, "content_words", None) or []),
                                        decoder.vocabulary.tokenizer)
        self.guidance = Guidance(s, decoder.vocabulary.pieces, modality, classifier, content)
        self.rules: LogitRules = build_rules(s, decoder.vocabulary, decoder.end_token_id, decoder.forbidden_ids,
                                             self.guidance.content, self.name_scores)
        self.on_token, self.should_stop = on_token, should_stop
        self.beams = BeamSearch(s.beam_size, decoder.end_token_id)
        self.tokens = torch.tensor([decoder.prompt_ids], device=decoder.device)  # [beams, length], start token first
        self.step = 0
        self.iterations_run = 0  # Δ updates made, over all tokens (early_stop makes fewer)
        self.started = time.perf_counter()
        self.result: CaptionResult | None = None
        self.error: BaseException | None = None
        # Set by DecodeBatch.step for the current token:
        self.first = 0  # this input's first row in the batch
        self.rows: Rows | None = None
        self.active: torch.Tensor | None = None  # [beams] bool: beams still writing
        self.prefixes: list[str] = []

    def name_scores(self) -> torch.Tensor | None:
        """The modality scores of the content names after the prompt, as the candidates of the first token
        were scored (None before they are, or without a modality scorer)."""
        content = self.guidance.content
        if self.modality is None or content is None:
            return None
        prompt = self.decoder.vocabulary.text(self.decoder.prompt_ids[1:])
        texts = [content.candidate_text(prompt, token, "") for token in content.first_ids]
        if not all(text in self.modality.known for text in texts):
            return None
        return self.modality.lookup(texts)

    @property
    def size(self) -> int:
        """Rows in the batch now: one context before the first token, then one per beam."""
        return self.tokens.shape[0]

    @property
    def span(self) -> slice:
        return slice(self.first, self.first + self.size)

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def begin_step(self) -> bool:
        """This token's view of the beams; whether the guidance shifts the cache for them."""
        s, prompt = self.settings, len(self.decoder.prompt_ids)
        rows = self.tokens.tolist()
        caption_ids = [row[prompt:] for row in rows]
        self.rows = Rows(self.step, self.tokens, caption_ids, self.rules.forced(caption_ids))
        self.active = ~self.beams.finished if self.beams.finished is not None else torch.ones(len(rows), dtype=torch.bool)
        if all(f is not None for f, on in zip(self.rows.forced, self.active.tolist()) if on):
            self.active = torch.zeros_like(self.active)  # every beam finishes a word it began: nothing to steer
        steering = self.guidance.steers and s.num_iterations > 0 and bool(self.active.any())
        self.prefixes = [self.decoder.vocabulary.text(row[1:]) for row in rows] if steering else []
        return steering

    def candidates_from(self, log_probs: torch.Tensor) -> tuple[Guidance, torch.Tensor, list[str], torch.Tensor]:
        """What ``score_candidates`` needs for this input's rows of ``log_probs`` (the whole batch's)."""
        return self.guidance, log_probs[self.span], self.prefixes, self.active

    def advance(self, logits: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """The rules, fusion and one beam-search step on this input's rows; the batch rows its beams continue."""
        log_p = self.rules.next_token_log_probs(logits, log_q, self.rows)
        source, next_tokens = self.beams.advance(log_p)
        source, next_tokens = source.to(self.tokens.device), next_tokens.to(self.tokens.device)
        self.tokens = torch.cat([self.tokens.index_select(0, source), next_tokens[:, None]], dim=1)
        self.step += 1
        if self.on_token is not None:
            self.on_token(self.step - 1, [self.decoder.vocabulary.text(row[1:]) for row in self.tokens.tolist()])
        if self.beams.done or self.step >= self.settings.max_tokens:
            self.result = self.decoder.result_of(self)
        return source + self.first


class ContextCacheOptimizer:
    """Nudges the context cache by Δ so the next token better satisfies each input's guidance loss."""

    def __init__(self, model):
        self.model = model

    def shift(
        self,
        context: ContextCache,
        last: torch.Tensor,  # [rows, 1]
        jobs: list[CaptionJob],  # the inputs that steer this token
        log_q: torch.Tensor,  # [rows, vocab] the unshifted LM
        delta: list[KeyValue],  # the zero Δ the first logits were computed at
        logits: torch.Tensor,  # [rows, vocab] at C + Δ, with its autograd graph back to Δ
        inputs: dict[str, torch.Tensor],  # the padded rows' attention mask and positions (context.model_inputs)
    ) -> dict[CaptionJob, torch.Tensor]:
        """Each steering input's logits at its final C + Δ."""
        flat = [tensor for pair in delta for tensor in pair]
        # score_once: the unshifted top-k, scored once, is every iteration's target.
        once = [job for job in jobs if job.settings.scores_each_token_once]
        fixed = dict(zip(once, score_candidates([job.candidates_from(log_q) for job in once])))
        final: dict[CaptionJob, torch.Tensor] = {}  # early_stop: logits already at the final Δ
        previous_top: dict[CaptionJob, torch.Tensor] = {}
        updating = list(jobs)
        for iteration in range(max(job.settings.num_iterations for job in jobs)):
            updating = [job for job in updating if iteration < job.settings.num_iterations]
            if not updating:
                break
            if iteration > 0:
                logits = self.model(last, cache=context.shifted(delta), use_cache=True,
                                    **inputs).logits[:, -1].float()
            for job in [job for job in updating if job.settings.stops_iterations_early]:
                top = logits[job.span].detach().argmax(dim=-1)
                if job in previous_top and torch.equal(top, previous_top[job]):
                    final[job] = logits[job.span].detach()  # already at the final Δ: no more forward for it
                    updating.remove(job)
                previous_top[job] = top
            if not updating:
                break
            log_p = torch.log_softmax(logits, dim=-1)
            fresh = [job for job in updating if job not in fixed]
            found: dict[CaptionJob, Candidates] = dict(zip(fresh, score_candidates(
                [job.candidates_from(log_p) for job in fresh])))
            loss = sum(job.guidance.loss(log_p[job.span], log_q[job.span], fixed[job] if job in fixed else found[job])
                       for job in updating)
            gradients = torch.autograd.grad(loss, flat, allow_unused=True)
            self._step(flat, gradients, updating)
            for job in updating:
                job.iterations_run += 1
        stale = [job for job in jobs if job not in final]
        if stale:
            with torch.no_grad():
                logits = self.model(last, cache=context.shifted(self._detached(delta)), use_cache=True,
                                    **inputs).logits[:, -1].float()
            final.update({job: logits[job.span] for job in stale})
        return final

    @staticmethod
    def _step(flat: list[torch.Tensor], gradients, jobs: list[CaptionJob]) -> None:
        """Δ -= step · g / (‖g‖ + 1e-15) ** factor, normalised per row and per tensor (ZeroCap).

        Rows outside ``jobs`` are not in the loss, so their gradient is exactly zero and so is their update;
        only inputs with other step settings need their own rows updated apart."""
        groups: dict[tuple[float, float], list[CaptionJob]] = {}
        for job in jobs:
            groups.setdefault((job.settings.step_size, job.settings.grad_norm_factor), []).append(job)
        device = flat[0].device
        rows = {key: torch.cat([torch.arange(job.first, job.first + job.size) for job in members]).to(device)
                for key, members in groups.items()} if len(groups) > 1 else {}
        with torch.no_grad():
            for tensor, gradient in zip(flat, gradients):
                if gradient is None:
                    continue
                norm = gradient.flatten(1).norm(dim=1).view(-1, *[1] * (gradient.dim() - 1))
                if not rows:
                    ((step_size, factor),) = groups
                    tensor -= step_size * gradient / (norm + 1e-15) ** factor
                    continue
                for (step_size, factor), picked in rows.items():
                    tensor[picked] -= step_size * gradient[picked] / (norm[picked] + 1e-15) ** factor

    @staticmethod
    def _detached(delta: list[KeyValue]) -> list[KeyValue]:
        return [(k.detach(), v.detach()) for k, v in delta]


class DecodeBatch:
    """Many captions in one loop (vLLM's engine loop in small): inputs join between tokens, each after its
    own prefix pass, and leave when they finish or are cancelled, so their rows stop costing passes."""

    def __init__(self, lm: LoadedModel):
        self.lm = lm
        self.model = lm.model
        self.config = lm.model.config
        self.optimizer = ContextCacheOptimizer(self.model)
        self.jobs: list[CaptionJob] = []
        self.context: ContextCache | None = None

    @property
    def rows(self) -> int:
        return sum(job.size for job in self.jobs)

    def add(self, job: CaptionJob) -> None:
        """C for the new input: the cache of its prompt but the last token, padded to join the batch's rows."""
        if job.decoder.model is not self.model:
            raise ValueError(f"a caption for {job.decoder.lm.spec!r} cannot join a batch of {self.lm.spec!r}")
        with torch.no_grad():
            prefix = self.model(job.tokens[:, :-1], use_cache=True).cache
        own = ContextCache.from_past(prefix, self.config)
        self.context = own if self.context is None else ContextCache.concat([self.context, own])
        self.jobs.append(job)

    def step(self) -> list[CaptionJob]:
        """One token for every input in the batch; returns the inputs that finished (result or error)."""
        left = [job for job in self.jobs if job.should_stop is not None and job.should_stop()]
        for job in left:
            job.error = CaptionCancelled(job.step)
        self._drop(left)
        if not self.jobs:
            return left
        self._layout()
        steering = [job for job in self.jobs if job.begin_step()]
        context, inputs = self.context, self.context.model_inputs()
        last = torch.cat([job.tokens[:, -1:] for job in self.jobs])  # [rows, 1]
        if steering:
            # q is the LM at Δ = 0, which is also the first iteration's forward: one pass, with its graph
            # to Δ kept for the first gradient (C + 0 is C exactly). It also extends the cache by the last token.
            delta = context.zeros_like()
            output = self.model(last, cache=context.shifted(delta), use_cache=True, **inputs)
            first_logits = output.logits[:, -1].float()
            q_logits = first_logits.detach()
        else:
            with torch.no_grad():
                output = self.model(last, cache=context.shifted(), use_cache=True, **inputs)
            q_logits = output.logits[:, -1].float()
        log_q = torch.log_softmax(q_logits, dim=-1)
        logits = q_logits.clone()  # inputs that do not steer this token keep q
        if steering:
            for job, shifted in self.optimizer.shift(context, last, steering, log_q, delta, first_logits, inputs).items():
                logits[job.span] = shifted
        sources = [job.advance(logits[job.span], log_q[job.span]) for job in self.jobs]
        done = [job for job in self.jobs if job.finished]
        going = [(job, source) for job, source in zip(self.jobs, sources) if not job.finished]
        self.jobs = [job for job, _ in going]
        # C' (the cache extended by the last token) reordered to the surviving beams of the inputs still writing.
        extended = ContextCache.from_past(output.cache, self.config, context.pads)
        self.context = extended.select_beams(torch.cat([source for _, source in going])) if going else None
        return left + done

    def _layout(self) -> None:
        """Each input's first row: the rows are the inputs' beams, in order."""
        first = 0
        for job in self.jobs:
            job.first, first = first, first + job.size

    def _drop(self, leaving: list[CaptionJob]) -> None:
        if not leaving:
            return
        self._layout()
        kept = [job for job in self.jobs if job not in leaving]
        self.jobs = kept
        if kept:
            rows = torch.cat([torch.arange(job.first, job.first + job.size) for job in kept])
            self.context = self.context.select_beams(rows.to(self.context.layers[0][0].device))
        else:
            self.context = None

    def run(self) -> None:
        """Decode until every input has finished."""
        while self.jobs:
            self.step()


class GuidedDecoder:
    """A frozen causal LM writing captions, steered by a modality scorer and a classifier scorer per input."""

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

    def job(self, modality_scorer: CandidateScorer | None, classifier_scorer: CandidateScorer | None,
            on_token: TokenCallback | None = None, should_stop: StopCheck | None = None) -> CaptionJob:
        """One input's caption, ready to join a ``DecodeBatch``."""
        modality = CachedScorer(modality_scorer, "modality") if modality_scorer is not None else None
        classifier = CachedScorer(classifier_scorer, "classifier") if classifier_scorer is not None else None
        return CaptionJob(self, modality, classifier, on_token, should_stop)

    def caption(
        self,
        modality_scorer: CandidateScorer | None,
        classifier_scorer: CandidateScorer | None,
        on_token: TokenCallback | None = None,
        should_stop: StopCheck | None = None,
    ) -> CaptionResult:
        (job,) = caption_together([self.job(modality_scorer, classifier_scorer, on_token, should_stop)])
        if job.error is not None:
            raise job.error
        return job.result

    def unsteered_log_prob(self, captions: list[list[int]]) -> list[float]:
        """Per caption (token ids after the prompt), the mean log-probability of its tokens under the plain LM
        given the prompt: one pass for all of them, right-padded (a causal LM never looks at the padding)."""
        rows = [self.prompt_ids + ids for ids in captions]
        width = max(len(row) for row in rows)
        tokens = torch.tensor([row + [row[-1]] * (width - len(row)) for row in rows], device=self.device)
        with torch.no_grad():
            log_p = torch.log_softmax(self.model(tokens).logits.float(), dim=-1)
        start = len(self.prompt_ids)
        means = []
        for i, ids in enumerate(captions):
            if not ids:
                means.append(0.0)
                continue
            positions = torch.arange(start - 1, start - 1 + len(ids), device=self.device)
            means.append(float(log_p[i, positions, torch.tensor(ids, device=self.device)].mean()))
        return means

    def result_of(self, job: CaptionJob) -> CaptionResult:
        """The finished input's beams, best first, with their scores and the loop's timings."""
        modality, classifier = job.modality, job.classifier
        prompt = self.prompt_ids[1:]
        texts, found = [], []
        for ids, lm_score, finished in job.beams.captions():
            texts.append(self.vocabulary.text(prompt + ids))
            found.append(Beam(text=texts[-1], tokens=ids, lm_score=lm_score, finished=finished))
        # The final texts were candidates at the last step, so these are mostly cache hits.
        if modality is not None:
            for beam, score in zip(found, modality.score(texts).tolist()):
                beam.modality_score = score
        if classifier is not None:
            for beam, score in zip(found, wanted_probability(classifier, texts, self.settings.wanted_label).tolist()):
                beam.classifier_score = score
        if self.settings.pick_fluency > 0:
            for beam, fluency in zip(found, self.unsteered_log_prob([beam.tokens for beam in found])):
                beam.fluency = fluency
        if self.settings.article:  # after scoring: the scorers saw (and cached) the texts as decoded
            for beam in found:
                beam.text = with_article(beam.text, self.settings.prompt)
        found = ranked(found, self.settings.pick_fluency)
        seconds, steps = time.perf_counter() - job.started, job.step
        scorers = [c for c in (modality, classifier) if c is not None]
        return CaptionResult(
            prompt=self.settings.prompt,
            caption=found[0].text,
            beams=found,
            model_ids={"language_model": self.lm.spec},
            settings={"decoding": self.settings.model_dump()},
            timings={"decode": seconds, "scoring": sum(c.seconds for c in scorers),
                     "seconds_per_token": seconds / steps, "tokens": float(steps),
                     "iterations_per_token": job.iterations_run / steps,
                     # distinct candidate texts each scorer had to score, per token (what scoring costs)
                     "texts_scored_per_token": max((c.texts_scored for c in scorers), default=0) / steps},
        )


def caption_together(jobs: list[CaptionJob]) -> list[CaptionJob]:
    """Decode ``jobs`` in one loop; each ends with its ``result`` or its ``error`` (e.g. CaptionCancelled)."""
    if jobs:
        batch = DecodeBatch(jobs[0].decoder.lm)
        for job in jobs:
            batch.add(job)
        batch.run()
    return jobs
