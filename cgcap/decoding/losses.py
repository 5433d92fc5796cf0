"""The three guidance losses of docs/ALGORITHM.md, per beam.

Every function takes ``log_p`` (``[beams, vocab]``, log-softmax of the shifted LM) and the
top-k candidate ids ``top`` (``[beams, k]``); scores are ``[beams, k]`` and carry no
gradient (the scorers never need one).
"""

from __future__ import annotations

import torch


def target_loss(log_p: torch.Tensor, top: torch.Tensor, scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """``-Σ_j t_j · log p_j`` with ``t = softmax(scores / τ)`` over the top-k, zero elsewhere.

    L_mod uses the modality scores a_j; the ``target`` classifier form uses h(s_j).
    """
    target = torch.softmax(scores / temperature, dim=-1)
    return -(target * log_p.gather(-1, top)).sum(-1)


def expected_classifier_loss(log_p: torch.Tensor, top: torch.Tensor, classifier_scores: torch.Tensor) -> torch.Tensor:
    """``-log Σ_j p̂_j · h(s_j)``, with p̂ the LM distribution renormalised over the top-k."""
    p_hat = torch.softmax(log_p.gather(-1, top), dim=-1)
    return -torch.log((p_hat * classifier_scores).sum(-1).clamp_min(1e-12))


def fluency_loss(log_p: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
    """``L_CE = Σ_v p_v (log p_v − log q_v)`` = KL(p‖q), keeping the shifted LM near the unshifted one."""
    return (log_p.exp() * (log_p - log_q)).sum(-1)
