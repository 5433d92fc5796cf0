"""The unsteered LM's mean log-probability per caption token, on the packaged SmolLM2."""

from __future__ import annotations

import pytest

from cgcap.metrics.fluency import caption_token_ids, mean_log_probabilities, mean_log_probability
from cgcap.models import load

A = "Audio of a"


@pytest.fixture(scope="module")
def lm():
    return load("smollm2-135m")


def test_a_fluent_phrase_scores_above_the_same_words_scrambled(lm):
    fluent, scrambled, glued = mean_log_probabilities(lm, [
        ("Audio of a dog barking in the distance.", A),
        ("Audio of a distance the barking in dog.", A),
        ("Audio of a farm animals rooster.", A),
    ])
    assert fluent > scrambled + 1.0  # measured: -4.2 against -7.9 nats per token
    assert mean_log_probability(lm, "Audio of a rooster crowing.", A) > glued


def test_only_the_tokens_after_the_prompt_are_scored(lm):
    ids, context = caption_token_ids(lm.tokenizer, "Audio of a bell.", A)
    assert ids[0] == lm.tokenizer.bos_token_id and lm.tokenizer.decode(ids[1:context]) == A
    assert lm.tokenizer.decode(ids[context:]) == " bell."
    # The prompt's "a" written "an" is the context the caption is scored after.
    ids, context = caption_token_ids(lm.tokenizer, "Audio of an alarm.", A)
    assert lm.tokenizer.decode(ids[1:context]) == "Audio of an"
    # Scoring "bell." alone after the prompt by hand gives the same figure.
    import torch

    ids, context = caption_token_ids(lm.tokenizer, "Audio of a bell.", A)
    with torch.inference_mode():
        log_probs = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].float(), dim=-1)
    by_hand = sum(float(log_probs[i - 1, ids[i]]) for i in range(context, len(ids))) / (len(ids) - context)
    assert mean_log_probability(lm, "Audio of a bell.", A) == pytest.approx(by_hand, abs=1e-4)


def test_a_caption_with_nothing_after_the_prompt_has_no_score(lm):
    assert mean_log_probability(lm, "Audio of a", A) is None


def test_captions_scored_together_get_the_scores_they_get_alone(lm, monkeypatch):
    """One padded pass for many captions: the right-hand padding changes no caption's score."""
    captions = [("Audio of a bell.", A), ("Audio of a", A), ("Audio of a dog barking in the distance.", A),
                ("Image of a cat sitting on a bed.", "Image of a"), ("Audio of an alarm.", A)]
    passes = []

    class Counted:
        """The LM, counting its forward passes and their rows."""

        def __init__(self, model):
            self.model = model

        def __getattr__(self, name):
            return getattr(self.model, name)

        def __call__(self, ids, **kwargs):
            passes.append(ids.shape[0])
            return self.model(ids, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(lm, "model", Counted(lm.model))
        together = mean_log_probabilities(lm, captions)
    assert passes == [4]  # the four captions with a token after the prompt, in one pass
    alone = [mean_log_probabilities(lm, [caption])[0] for caption in captions]
    assert together[1] is None and alone[1] is None
    for got, expected in zip(together, alone):
        if expected is not None:
            assert got == pytest.approx(expected, abs=1e-4)
    # Two passes of two give the same as one of five.
    assert mean_log_probabilities(lm, captions, batch_size=2) == pytest.approx(together, abs=1e-4)


def test_references_are_written_after_the_prompt_only_where_they_begin_with_its_article():
    from cgcap.metrics.fluency import references_after_prompt

    references = ["A telephone rings.", "An alarm clock beeps repeatedly.", "The click of a camera.", "A", "a dog"]
    assert references_after_prompt(references, "Audio of a") == [
        "Audio of a telephone rings.", "Audio of an alarm clock beeps repeatedly."]
    assert references_after_prompt(references, "Image of an ") == [
        "Image of a telephone rings.", "Image of an alarm clock beeps repeatedly."]
    # A prompt that does not end in the article has no such frame.
    assert references_after_prompt(references, "A sound:") == []
