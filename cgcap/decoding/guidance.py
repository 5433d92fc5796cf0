"""``L = λ_mod·L_mod + λ0·L_CE + λ1·L_cls`` for a batch of beams (docs/ALGORITHM.md, "The loss")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cgcap.config import DecodingSettings
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.losses import expected_classifier_loss, fluency_loss, target_loss
from cgcap.decoding.plan import classifier_counts, modality_counts
from cgcap.decoding.score_cache import CachedScorer


def wanted_probability(classifier: CachedScorer, texts: list[str], wanted_label: int) -> torch.Tensor:
    """h(s) = P(wanted label | s) from a scorer that gives P(label 1 | s)."""
    scores = classifier.score(texts)
    return scores if wanted_label == 1 else 1.0 - scores


@dataclass
class Candidates:
    """One iteration's (or, with score_once, one token's) candidates and their scores, per active beam."""

    rows: torch.Tensor  # [beams]: which beams of the batch are active
    top: torch.Tensor  # [beams, k] token ids
    modality: torch.Tensor | None  # [beams, k] a_j
    classifier: torch.Tensor | None  # [beams, k] h(s_j), already for the wanted label


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
        self.modality = modality if modality is not None and modality_counts(settings) else None
        self.classifier = classifier if classifier is not None and classifier_counts(settings) else None

    @property
    def steers(self) -> bool:
        """False when only L_CE is left: KL(p‖q) is smallest at Δ = 0, so the cache stays as it is.

        (Its gradient there is float noise, which the gradient normalisation would blow up.)
        """
        return self.modality is not None or self.classifier is not None

    def candidates(
        self,
        log_probs: torch.Tensor,  # [beams, vocab]: the shifted LM, or the unshifted one with score_once
        prefixes: list[str],  # per beam: prompt and caption so far
        active: torch.Tensor,  # [beams] bool: beams still writing (finished beams need no shift)
    ) -> Candidates:
        """The active beams' top-k tokens T and the scorers' scores of ``prefix + token`` for each."""
        s = self.settings
        rows = active.nonzero().flatten().to(log_probs.device)
        if self.content is not None:  # T with the input's own words in it (content_candidates.py)
            top = self.content.top_with_content(log_probs.index_select(0, rows), s.top_k)
        else:
            top = log_probs.detach().index_select(0, rows).topk(s.top_k, dim=-1).indices  # T: [beams, k]
        # All beams' candidate texts go to each scorer in one call: s_j = prefix + token_j
        # (a content word's first token is scored as the whole word, which the decoder then completes).
        text_of = self.content.candidate_text if self.content is not None else (
            lambda prefix, token, piece: prefix + piece)
        texts = [text_of(prefixes[row], token, self.pieces[token])
                 for row, tokens in zip(rows.tolist(), top.tolist()) for token in tokens]
        shape, device = top.shape, log_probs.device
        modality = self.modality.score(texts).view(shape).to(device) if self.modality else None
        classifier = (wanted_probability(self.classifier, texts, s.wanted_label).view(shape).to(device)
                      if self.classifier else None)
        return Candidates(rows, top, modality, classifier)

    def loss(
        self,
        log_p: torch.Tensor,  # [beams, vocab] shifted LM, with gradient
        log_q: torch.Tensor,  # [beams, vocab] unshifted LM
        prefixes: list[str],
        active: torch.Tensor,
        fixed: Candidates | None = None,  # score_once: the unshifted top-k, scored once for all iterations
    ) -> torch.Tensor:
        s = self.settings
        found = fixed if fixed is not None else self.candidates(log_p, prefixes, active)
        top, modality_scores, classifier_scores = found.top, found.modality, found.classifier
        log_p, log_q = log_p.index_select(0, found.rows), log_q.index_select(0, found.rows)
        shape = top.shape

        loss = s.lambda_fluency * fluency_loss(log_p, log_q)
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
