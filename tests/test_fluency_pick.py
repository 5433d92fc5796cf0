"""The final pick may weigh how likely the unsteered LM finds each finished beam (decoding.pick_fluency)."""

from __future__ import annotations

import pytest

from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.decoding.decoder import ranked
from cgcap.decoding.result import Beam
from cgcap.models import load


def beam(text: str, modality: float, fluency: float, finished: bool = True) -> Beam:
    return Beam(text=text, lm_score=-1.0, modality_score=modality, fluency=fluency, finished=finished)


def test_fluency_weight_lets_a_phrase_beat_stacked_names_that_match_the_input_slightly_better():
    stacked = beam("Audio of a farm animals rooster.", modality=0.62, fluency=-6.8)
    phrase = beam("Audio of a rooster crowing.", modality=0.58, fluency=-4.2)
    unfinished = beam("Audio of a rooster crowing in the", modality=0.70, fluency=-3.0, finished=False)
    assert [b.text for b in ranked([stacked, phrase, unfinished])][:2] == [stacked.text, phrase.text]
    assert [b.text for b in ranked([stacked, phrase, unfinished], fluency_weight=0.05)] == [
        phrase.text, stacked.text, unfinished.text]  # a finished beam still comes before an unfinished one


@pytest.fixture(scope="module")
def smollm2():
    return load("smollm2-135m")


def test_the_unsteered_lm_scores_a_phrase_above_the_same_words_scrambled_and_stacked_names(smollm2):
    decoder = GuidedDecoder(smollm2, DecodingSettings(prompt="Audio of a"))
    encode = lambda text: smollm2.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    fluent, stacked, scrambled = decoder.unsteered_log_prob(
        [encode(" dog barking in the distance."), encode(" farm animals rooster dog."),
         encode(" distance the barking dog in.")])
    assert fluent > stacked > scrambled
    # One pass for all beams (right-padded) gives what each gets alone.
    assert decoder.unsteered_log_prob([encode(" farm animals rooster dog.")])[0] == pytest.approx(stacked, abs=1e-4)
