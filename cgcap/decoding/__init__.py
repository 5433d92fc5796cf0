"""The guided decoder (docs/ALGORITHM.md): context-cache optimisation with modality and classifier guidance."""

from cgcap.decoding.decoder import ContextCacheOptimizer, GuidedDecoder
from cgcap.decoding.result import Beam, CaptionResult
from cgcap.decoding.scoring import CandidateScorer, ModalityScorer, TextEmbedder

__all__ = ["Beam", "CandidateScorer", "CaptionResult", "ContextCacheOptimizer", "GuidedDecoder", "ModalityScorer",
           "TextEmbedder"]
