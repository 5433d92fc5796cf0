"""Fast mode's approximations do what their settings say (the exact mode is checked against the oracle
in test_decoding_oracle.py): score_once scores the unshifted top-k once per token; early_stop ends a
token's iterations at the first iteration whose top candidate equals the previous one's."""

from __future__ import annotations

from collections import defaultdict

import pytest
import torch

from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.models import load
from decoding_scorers import LetterShareScorer, RecordingScorer


@pytest.fixture(scope="module")
def tiny_llama():
    return load("tiny:llama")


def unshifted_candidates(decoder: GuidedDecoder, generated: list[int], k: int) -> set[str]:
    """prefix + token for the plain LM's top-k after ``generated``, computed from scratch."""
    ids = decoder.prompt_ids + generated
    with torch.no_grad():
        logits = decoder.model(torch.tensor([ids])).logits[0, -1]
    prefix = decoder.vocabulary.text(ids[1:])
    return {prefix + decoder.vocabulary.pieces[token] for token in logits.topk(k).indices.tolist()}


@pytest.mark.parametrize("options", [{"score_once": True}, {"speed": "fast"}])
def test_score_once_scores_the_unshifted_top_k_once_per_token(tiny_llama, options):
    settings = DecodingSettings(top_k=16, num_iterations=4, max_tokens=5, **options)
    scorer = RecordingScorer(LetterShareScorer("aeiou"))
    result = GuidedDecoder(tiny_llama, settings).caption(scorer, None)
    decoder = GuidedDecoder(tiny_llama, settings)
    generated = result.beams[0].tokens
    # One call per token (the final beam's text is a candidate already, so a cache hit).
    assert len(scorer.calls) == len(generated)
    for step, texts in enumerate(scorer.calls):
        assert set(texts) == unshifted_candidates(decoder, generated[:step], 16)

    exact = RecordingScorer(LetterShareScorer("aeiou"))
    exact_result = GuidedDecoder(tiny_llama, DecodingSettings(top_k=16, num_iterations=4, max_tokens=5)).caption(exact, None)
    assert len(exact.calls) > len(exact_result.beams[0].tokens)  # exact mode rescored the shifted top-k


def forwards_per_token(lm, settings: DecodingSettings) -> list[list[int]]:
    """For each token, the argmax of every single-token forward pass the decoder made."""
    by_context: dict[int, list[int]] = defaultdict(list)

    def record(module, args, kwargs, output):
        cache, ids = kwargs.get("cache"), args[0] if args else kwargs.get("input_ids")
        if cache is not None and ids.shape[1] == 1:  # not the prompt's prefix pass
            # The cache already holds this pass's token: group by the context length before it.
            by_context[cache.get_seq_length() - 1].append(int(output.logits[0, -1].argmax()))

    handle = lm.model.register_forward_hook(record, with_kwargs=True)
    try:
        GuidedDecoder(lm, settings).caption(LetterShareScorer("aeiou"), None)
    finally:
        handle.remove()
    return [by_context[length] for length in sorted(by_context)]


def test_early_stop_ends_iterations_once_the_top_candidate_repeats(tiny_llama):
    exact = DecodingSettings(top_k=16, num_iterations=5, max_tokens=6, step_size=0.02)
    exact_passes = forwards_per_token(tiny_llama, exact)
    # Exact: q (which is also iteration 1's pass), iterations 2-5, then the pass at the final Δ.
    assert all(len(passes) == 6 for passes in exact_passes)

    early_passes = forwards_per_token(tiny_llama, exact.model_copy(update={"early_stop": True}))
    assert sum(map(len, early_passes)) < sum(map(len, exact_passes))
    for passes in early_passes:
        repeats = [a == b for a, b in zip(passes, passes[1:])]
        if len(passes) <= 5:  # stopped early: at the first repeat, and its pass is the final one
            assert repeats[-1] and not any(repeats[:-1])
        else:  # no repeat within the iterations: all of them ran, then the final pass
            assert len(passes) == 6 and not any(repeats[:4])
