"""The test oracle: a straightforward implementation of the published loop (ZeroCap's
``CLIPTextGenerator`` with the classifier term of arXiv 2501.03183), written from
docs/ALGORITHM.md without any of the decoder's speed-ups:

- the prefix cache and q are recomputed from all the tokens at every step;
- Δ lives in NumPy and makes a round trip through it at every iteration;
- each beam's candidates are scored by their own scorer call, nothing cached;
- the logit rules run beam by beam, as in ZeroCap.

It shares no code with ``cgcap.decoding`` except the token lists it is given (the
forbidden ids and the end token), so the optimised decoder can be checked against it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import DynamicCache


@dataclass
class ReferenceBeam:
    tokens: list[int]
    text: str
    lm_score: float
    finished: bool
    modality_score: float | None = None


def _scores(scorer, texts: list[str]) -> torch.Tensor:
    # A plain copy: scorers may hand back inference-mode tensors, which autograd refuses.
    return torch.tensor(torch.as_tensor(scorer.score(texts)).flatten().tolist(), dtype=torch.float32)


class ReferenceDecoder:
    def __init__(self, model, tokenizer, settings, forbidden_ids: list[int], end_token_id: int, start_token_id: int):
        self.model = model
        self.tokenizer = tokenizer
        self.s = settings
        self.forbidden_ids = list(forbidden_ids)
        self.end_token_id = end_token_id
        self.start_token_id = start_token_id
        for parameter in model.parameters():
            parameter.requires_grad_(False)
        # The loop itself runs on the CPU (NumPy, as published); only the model's passes go to its device.
        self.device = next(model.parameters()).device

    # ---- one caption -------------------------------------------------------------------
    def caption(self, modality_scorer, classifier_scorer) -> list[ReferenceBeam]:
        s = self.s
        self.modality_scorer, self.classifier_scorer = modality_scorer, classifier_scorer
        prompt_ids = self.tokenizer.encode(s.prompt, add_special_tokens=False)
        context_tokens = torch.tensor([[self.start_token_id] + prompt_ids])
        output_tokens, scores, seq_lengths = None, None, torch.ones(s.beam_size)
        is_stopped = torch.zeros(s.beam_size, dtype=torch.bool)
        for i in range(s.max_tokens):
            log_probs = self.get_next_log_probs(i, context_tokens)
            if scores is None:
                scores, next_tokens = log_probs[0].topk(s.beam_size)
                context_tokens = context_tokens.expand(s.beam_size, -1)
                output_tokens = next_tokens[:, None]
            else:
                log_probs = log_probs.clone()
                log_probs[is_stopped] = -float("inf")
                log_probs[is_stopped, self.end_token_id] = 0.0
                scores_sum = scores[:, None] + log_probs
                seq_lengths[~is_stopped] += 1
                average, flat = (scores_sum / seq_lengths[:, None]).view(-1).topk(s.beam_size)
                source = flat // scores_sum.shape[1]
                next_tokens = flat % scores_sum.shape[1]
                seq_lengths = seq_lengths[source]
                output_tokens = torch.cat([output_tokens[source], next_tokens[:, None]], dim=1)
                context_tokens = context_tokens[source]
                scores = average * seq_lengths
                is_stopped = is_stopped[source]
            context_tokens = torch.cat([context_tokens, next_tokens[:, None]], dim=1)
            is_stopped = is_stopped | next_tokens.eq(self.end_token_id)
            if is_stopped.all():
                break

        beams = []
        for b in range(s.beam_size):
            tokens = output_tokens[b, : int(seq_lengths[b])].tolist()
            text = self.tokenizer.decode(prompt_ids + tokens)
            beam = ReferenceBeam(tokens, text, float(scores[b] / seq_lengths[b]), bool(is_stopped[b]))
            if modality_scorer is not None:
                beam.modality_score = float(_scores(modality_scorer, [text])[0])
            beams.append(beam)
        beams.sort(key=lambda b: (b.finished, b.modality_score if b.modality_score is not None else b.lm_score),
                   reverse=True)
        return beams

    # ---- one token ---------------------------------------------------------------------
    def get_next_log_probs(self, i: int, context_tokens: torch.Tensor) -> torch.Tensor:
        last_token = context_tokens[:, -1:]
        with torch.no_grad():
            tokens = context_tokens.to(self.device)
            context = self.model(tokens[:, :-1], use_cache=True).cache  # recomputed every step
            context = [(layer.keys.cpu().numpy().copy(), layer.values.cpu().numpy().copy()) for layer in context.layers]
            logits_before_shift = self.model(tokens).logits[:, -1, :].float().cpu()
        log_q = torch.log_softmax(logits_before_shift, dim=-1)

        context = self.shift_context(context, last_token, context_tokens, log_q)
        with torch.no_grad():
            logits = self.model(last_token.to(self.device), cache=self._cache(context),
                                use_cache=True).logits[:, -1, :].float().cpu()
        logits = self.update_special_tokens_logits(context_tokens, i, logits.clone())
        mixed = self.s.fusion * torch.log_softmax(logits, dim=-1) + (1 - self.s.fusion) * log_q
        return torch.log_softmax(mixed, dim=-1)

    def _cache(self, context) -> DynamicCache:
        data = [(torch.from_numpy(k).to(self.device), torch.from_numpy(v).to(self.device)) for k, v in context]
        return DynamicCache(ddp_cache_data=data, config=self.model.config)

    def shift_context(self, context, last_token, context_tokens, log_q):
        s = self.s
        context_delta = [tuple(np.zeros(x.shape, dtype=np.float32) for x in pair) for pair in context]
        for _ in range(s.num_iterations):
            curr_shift = [tuple(torch.from_numpy(x).to(self.device).requires_grad_(True) for x in pair)
                          for pair in context_delta]
            shifted = [(torch.from_numpy(k).to(self.device) + dk, torch.from_numpy(v).to(self.device) + dv)
                       for (k, v), (dk, dv) in zip(context, curr_shift)]
            cache = DynamicCache(ddp_cache_data=shifted, config=self.model.config)
            logits = self.model(last_token.to(self.device), cache=cache, use_cache=True).logits[:, -1, :].float().cpu()
            log_p = torch.log_softmax(logits, dim=-1)

            loss = self.guidance_loss(log_p, context_tokens)
            loss = loss + s.lambda_fluency * (log_p.exp() * (log_p - log_q)).sum(-1).sum()
            loss.backward()

            new_delta = []
            for pair_shift, pair_delta in zip(curr_shift, context_delta):
                updated = []
                for x, d in zip(pair_shift, pair_delta):
                    grad = x.grad.cpu().numpy()
                    step = np.zeros_like(grad)
                    for b in range(grad.shape[0]):  # normalised per beam, per tensor
                        norm = np.float32(torch.norm(x.grad[b : b + 1]).item()) + np.float32(1e-15)
                        step[b] = -s.step_size * grad[b] / norm ** s.grad_norm_factor
                    updated.append(d + step)
                new_delta.append(tuple(updated))
            context_delta = new_delta
        return [(k + dk, v + dv) for (k, v), (dk, dv) in zip(context, context_delta)]

    def guidance_loss(self, log_p: torch.Tensor, context_tokens: torch.Tensor) -> torch.Tensor:
        s = self.s
        loss = torch.zeros(())
        additive = s.classifier_form == "additive"
        use_modality = self.modality_scorer is not None and s.lambda_modality > 0
        weight = s.additive_weight * s.lambda_modality if additive else s.lambda_cls
        use_classifier = self.classifier_scorer is not None and weight > 0
        for b in range(log_p.shape[0]):
            _, top = log_p[b].detach().topk(s.top_k)
            prefix = self.tokenizer.decode(context_tokens[b, 1:].tolist())
            texts = [prefix + self.tokenizer.decode([t]) for t in top.tolist()]
            a = _scores(self.modality_scorer, texts) if use_modality else None
            h = None
            if use_classifier:
                h = _scores(self.classifier_scorer, texts)
                if s.wanted_label == 0:
                    h = 1.0 - h
            if additive:
                if a is None and h is None:
                    continue
                combined = (a if a is not None else torch.zeros(len(texts))) + (
                    s.additive_weight * h if h is not None else 0.0)
                loss = loss + s.lambda_modality * self._target_term(log_p[b], top, combined, s.modality_temperature)
                continue
            if a is not None:
                loss = loss + s.lambda_modality * self._target_term(log_p[b], top, a, s.modality_temperature)
            if h is not None:
                if s.classifier_form == "target":
                    loss = loss + s.lambda_cls * self._target_term(log_p[b], top, h, s.classifier_temperature)
                else:
                    p_top = log_p[b][top].exp()
                    loss = loss - s.lambda_cls * torch.log((p_top / p_top.sum() * h).sum().clamp_min(1e-12))
        return loss

    @staticmethod
    def _target_term(log_p_row, top, scores, temperature) -> torch.Tensor:
        target = torch.zeros_like(log_p_row)
        target[top] = torch.softmax(scores / temperature, dim=-1)
        return -(target * log_p_row).sum()

    def update_special_tokens_logits(self, context_tokens, i, logits):
        s = self.s
        for beam_id in range(context_tokens.shape[0]):
            if s.repetition_penalty != 1.0:
                for token_idx in set(context_tokens[beam_id][-4:].tolist()):
                    factor = s.repetition_penalty if logits[beam_id, token_idx] > 0 else 1 / s.repetition_penalty
                    logits[beam_id, token_idx] /= factor
            if i >= 1:
                factor = s.end_factor if logits[beam_id, self.end_token_id] > 0 else 1 / s.end_factor
                logits[beam_id, self.end_token_id] *= factor
            if i == 0:
                factor = 1.6 if logits[beam_id, self.end_token_id] > 0 else 1 / 1.6
                logits[beam_id, self.end_token_id] /= factor
            row = logits[beam_id, self.forbidden_ids]
            logits[beam_id, self.forbidden_ids] = torch.where(row > 0, row / s.forbidden_factor, row * s.forbidden_factor)
        return logits
