"""The speed-ups are exact: the optimised decoder writes the same tokens as the reference
implementation of the published loop (prefix recomputed, NumPy round trip, per-beam
scoring, nothing cached), on tiny GPT-2 and Llama (grouped-query attention) models and
on the packaged SmolLM2-135M, for beam 1 and beam 5 and every classifier form."""

from __future__ import annotations

import pytest

from cgcap.classifier import TextClassifier
from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.models import load
from decoding_scorers import LetterShareScorer, WordScorer, oracle_for

pytestmark = pytest.mark.slow  # SmolLM2 through the reference loop and through the decoder


@pytest.fixture(scope="module")
def tiny_lms():
    return {spec: load(spec) for spec in ("tiny:gpt2", "tiny:llama")}


@pytest.fixture(scope="module")
def tiny_classifier():
    return TextClassifier.load("tiny:bert-classifier")


@pytest.fixture(scope="module")
def smollm2():
    return load("smollm2-135m")


def assert_same_beams(result, reference) -> None:
    assert [beam.tokens for beam in result.beams] == [beam.tokens for beam in reference]
    assert result.caption == reference[0].text
    for beam, ref in zip(result.beams, reference):
        assert beam.finished == ref.finished
        assert beam.lm_score == pytest.approx(ref.lm_score, abs=1e-4)


@pytest.mark.parametrize("beam_size", [1, 5])
@pytest.mark.parametrize(("spec", "form"), [("tiny:gpt2", "target"), ("tiny:llama", "target"),
                                           ("tiny:llama", "expected"), ("tiny:llama", "additive")])
def test_tiny_models_write_the_oracles_tokens(tiny_lms, tiny_classifier, spec, beam_size, form):
    settings = DecodingSettings(top_k=16, num_iterations=2, max_tokens=5, beam_size=beam_size, classifier_form=form,
                                lambda_cls=2.0)
    decoder = GuidedDecoder(tiny_lms[spec], settings)
    modality = LetterShareScorer("aeiou")
    result = decoder.caption(modality, tiny_classifier)
    assert_same_beams(result, oracle_for(decoder).caption(modality, tiny_classifier))


def test_text_only_mode_writes_the_oracles_tokens(tiny_lms, tiny_classifier):
    settings = DecodingSettings(top_k=32, num_iterations=2, max_tokens=5, beam_size=3, wanted_label=0)
    decoder = GuidedDecoder(tiny_lms["tiny:gpt2"], settings)
    result = decoder.caption(None, tiny_classifier)
    assert_same_beams(result, oracle_for(decoder).caption(None, tiny_classifier))


@pytest.mark.parametrize("beam_size", [1, 5])
def test_smollm2_writes_the_oracles_tokens(smollm2, beam_size):
    settings = DecodingSettings(top_k=8, num_iterations=2, max_tokens=4, beam_size=beam_size)
    decoder = GuidedDecoder(smollm2, settings)
    modality, classifier = LetterShareScorer("aeiou"), WordScorer("dog")
    result = decoder.caption(modality, classifier)
    reference = oracle_for(decoder).caption(modality, classifier)
    assert_same_beams(result, reference)
    # The guidance did something: plain decoding of the same prompt writes other tokens.
    plain = GuidedDecoder(smollm2, settings.model_copy(update={"num_iterations": 0})).caption(None, None)
    assert [b.tokens for b in plain.beams] != [b.tokens for b in result.beams]
