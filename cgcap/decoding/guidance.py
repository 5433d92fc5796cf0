"""``L = λ_mod·L_mod + λ0·L_CE + λ1·L_cls`` for one input's beams (docs/ALGORITHM.md, "The loss").

In a batch of inputs each input has its own ``Guidance`` (its scorers, wanted label and
weights); ``score_candidates`` scores every input's candidates with one call per shared
scorer model, and the batch's loss is the sum of the inputs' losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from cgcap.config import DecodingSettings
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.losses import expected_classifier_loss, fluency_loss, target_loss
from cgcap.decoding.plan import uses_classifier, uses_encoders
from cgcap.decoding.score_cache import CachedScorer, score_together


def wanted_probability(classifier: CachedScorer, texts: list[str], wanted_label: int,
                       scores: torch.Tensor | None = None) -> torch.Tensor:
    """h(s) = P(wanted label | s) from a scorer that gives P(label 1 | s) (``scores``, when already scored)."""
    scores = classifier.score(texts) if scores is None else scores
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
        self.modality = modality if modality is not None and uses_encoders(settings) else None
        self.classifier = classifier if classifier is not None and uses_classifier(settings) else None

    @property
    def steers(self) -> bool:
        """False when only L_CE is left: KL(p‖q) is smallest at Δ = 0, so the cache stays as it is.

        (Its gradient there is float noise, which the gradient normalisation would blow up.)
        """
        return self.modality is not None or self.classifier is not None

    def propose(
        self,
        log_probs: torch.Tensor,  # [beams, vocab]: the shifted LM, or the unshifted one with score_once
        prefixes: list[str],  # per beam: prompt and caption so far
        active: torch.Tensor,  # [beams] bool: beams still writing (finished beams need no shift)
    ) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """The active beams (rows), their top-k tokens T, and the text ``prefix + token`` of each candidate."""
        s = self.settings
        rows = active.nonzero().flatten().to(log_probs.device)
        if self.content is not None:  # T with the input's own words in it (content_candidates.py)
            top = self.content.top_with_content(log_probs.index_select(0, rows), s.top_k)
        else:
            top = log_probs.detach().index_select(0, rows).topk(s.top_k, dim=-1).indices  # T: [beams, k]
        # A content word's first token is scored as the whole word, which the decoder then completes.
        text_of = self.content.candidate_text if self.content is not None else (
            lambda prefix, token, piece: prefix + piece)
        texts = [text_of(prefixes[row], token, self.pieces[token])
                 for row, tokens in zip(rows.tolist(), top.tolist()) for token in tokens]
        return rows, top, texts

    def candidates(self, log_probs: torch.Tensor, prefixes: list[str], active: torch.Tensor) -> Candidates:
        """The active beams' top-k tokens T and the scorers' scores of ``prefix + token`` for each."""
        return score_candidates([(self, log_probs, prefixes, active)])[0]

    def loss(
        self,
        log_p: torch.Tensor,  # [beams, vocab] shifted LM, with gradient
        log_q: torch.Tensor,  # [beams, vocab] unshifted LM
        found: Candidates,  # the scored candidates of this iteration (score_once: of this token)
    ) -> torch.Tensor:
        s = self.settings
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


def score_candidates(
    inputs: list[tuple[Guidance, torch.Tensor, list[str], torch.Tensor]],  # (guidance, log_probs, prefixes, active)
) -> list[Candidates]:
    """Every input's candidates, scored with one call per shared scorer model for all of them."""
    proposals = [guidance.propose(log_probs, prefixes, active) for guidance, log_probs, prefixes, active in inputs]
    requests = []
    for (guidance, *_), (_, _, texts) in zip(inputs, proposals):
        requests += [(scorer, texts) for scorer in (guidance.modality, guidance.classifier) if scorer is not None]
    scores = iter(score_together(requests))
    found = []
    for (guidance, log_probs, _, _), (rows, top, texts) in zip(inputs, proposals):
        shape, device = top.shape, log_probs.device
        modality = next(scores).view(shape).to(device) if guidance.modality else None
        classifier = None
        if guidance.classifier:
            wanted = wanted_probability(guidance.classifier, texts, guidance.settings.wanted_label, next(scores))
            classifier = wanted.view(shape).to(device)
        found.append(Candidates(rows, top, modality, classifier))
    return found
