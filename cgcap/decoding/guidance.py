"""``L = λ_mod·L_mod + λ0·L_CE + λ1·L_cls`` for a batch of beams (ALGORITHM.md, "The three goals")."""

from __future__ import annotations

import torch

from cgcap.config import DecodingSettings
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.losses import expected_classifier_loss, fluency_loss, target_loss
from cgcap.decoding.score_cache import CachedScorer


def wanted_probability(classifier: CachedScorer, texts: list[str], wanted_label: int) -> torch.Tensor:
    """h(s) = P(wanted label | s) from a scorer that gives P(label 1 | s)."""
    scores = classifier.score(texts)
    return scores if wanted_label == 1 else 1.0 - scores


class Guidance:
    def __init__(
        self,
        settings: DecodingSettings,
        pieces: list[str],
        modality: CachedScorer | None,
        classifier: CachedScorer | None,
        content: ContentCandidates | None = None,
    ):
        self.settings = settings
        self.content = content if content and modality is not None and settings.lambda_modality > 0 else None
        self.pieces = pieces
        self.additive = settings.classifier_form == "additive"
        self.modality = modality if modality is not None and settings.lambda_modality > 0 else None
        self.classifier = classifier if classifier is not None and settings.classifier_weight > 0 else None

    @property
    def steers(self) -> bool:
        """False when only L_CE is left: KL(p‖q) is smallest at Δ = 0, so the cache stays as it is.

        (Its gradient there is float noise, which the gradient normalisation would blow up.)
        """
        return self.modality is not None or self.classifier is not None

    def loss(
        self,
        log_p: torch.Tensor,  # [beams, vocab] shifted LM, with gradient
        log_q: torch.Tensor,  # [beams, vocab] unshifted LM
        prefixes: list[str],  # per beam: prompt and caption so far
        active: torch.Tensor,  # [beams] bool: beams still writing (finished beams need no shift)
    ) -> torch.Tensor:
        s = self.settings
        rows = active.nonzero().flatten().to(log_p.device)
        log_p, log_q = log_p.index_select(0, rows), log_q.index_select(0, rows)
        if self.content is not None:  # T with the input's own words in it (content_candidates.py)
            top = self.content.top_with_content(log_p, s.top_k, [prefixes[row] for row in rows.tolist()])
        else:
            top = log_p.detach().topk(s.top_k, dim=-1).indices  # T: [beams, k]
        # All beams' candidate texts go to each scorer in one call: s_j = prefix + token_j.
        texts = [prefixes[row] + self.pieces[token] for row, tokens in zip(rows.tolist(), top.tolist()) for token in tokens]
        shape = top.shape

        loss = s.lambda_fluency * fluency_loss(log_p, log_q)
        modality_scores = self.modality.score(texts).view(shape).to(log_p.device) if self.modality else None
        classifier_scores = wanted_probability(self.classifier, texts, s.wanted_label).view(shape).to(log_p.device) if self.classifier else None

        if self.additive:
            if modality_scores is not None or classifier_scores is not None:
                scores = torch.zeros(shape, device=log_p.device)  # text-only: a_j ≡ 0, softmax is unchanged
                if modality_scores is not None:
                    scores = scores + modality_scores
                if classifier_scores is not None:
                    scores = scores + s.additive_weight * classifier_scores
                loss = loss + s.lambda_modality * target_loss(log_p, top, scores, s.modality_temperature)
            return loss.sum()
        if modality_scores is not None:
            loss = loss + s.lambda_modality * target_loss(log_p, top, modality_scores, s.modality_temperature)
        if classifier_scores is not None:
            if s.classifier_form == "target":
                loss = loss + s.lambda_cls * target_loss(log_p, top, classifier_scores, s.classifier_temperature)
            else:
                loss = loss + s.lambda_cls * expected_classifier_loss(log_p, top, classifier_scores)
        return loss.sum()
