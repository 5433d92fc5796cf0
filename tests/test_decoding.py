"""The decoder's contract: plain decoding when nothing steers, the exact speed-ups, determinism,
and bad settings refused with errors that name the setting."""

from __future__ import annotations

import pytest

from cgcap.config import DecodingSettings, SettingsError, load_settings
from cgcap.decoding import GuidedDecoder
from cgcap.models import load
from decoding_scorers import LetterShareScorer, RecordingScorer, WordScorer, oracle_for


@pytest.fixture(scope="module")
def tiny_llama():
    return load("tiny:llama")


@pytest.fixture(scope="module")
def tiny_gpt2():
    return load("tiny:gpt2")


def test_without_classifier_and_modality_terms_the_caption_is_plain_decoding(tiny_llama):
    # λ1 = 0 and no input: only the fluency term is left, so the output is the LM's own
    # beam search with the same logit rules (the oracle with no cache updates at all).
    settings = DecodingSettings(top_k=16, num_iterations=3, max_tokens=6, beam_size=3, lambda_cls=0.0)
    decoder = GuidedDecoder(tiny_llama, settings)
    classifier = RecordingScorer(WordScorer("a"))
    result = decoder.caption(None, classifier)
    plain = oracle_for(decoder, settings.model_copy(update={"num_iterations": 0})).caption(None, None)
    assert [beam.tokens for beam in result.beams] == [beam.tokens for beam in plain]
    # The classifier only scored the final beams, for the report; it steered nothing.
    assert classifier.calls == [[beam.text for beam in result.beams]]


def test_all_beams_candidates_go_to_each_scorer_in_one_call_and_each_text_is_scored_once(tiny_gpt2):
    settings = DecodingSettings(top_k=16, num_iterations=3, max_tokens=4, beam_size=4)
    modality, classifier = RecordingScorer(LetterShareScorer()), RecordingScorer(WordScorer("a"))
    result = GuidedDecoder(tiny_gpt2, settings).caption(modality, classifier)

    for scorer in (modality, classifier):
        scored = [text for call in scorer.calls for text in call]
        assert len(scored) == len(set(scored)), "a candidate text was scored twice in one caption"
        # At most one call per cache update (one per iteration per token), plus none or one for the final beams.
        steps = len(result.beams[0].tokens) if all(b.finished for b in result.beams) else settings.max_tokens
        assert len(scorer.calls) <= steps * settings.num_iterations + 1
        # After the first token there are 4 beams: one call holds candidates of several prefixes.
        prefixes_per_call = [len({text[:-1] for text in call}) for call in scorer.calls[settings.num_iterations:]]
        assert max(prefixes_per_call) > 1
    assert modality.calls == classifier.calls


def test_the_same_settings_give_the_same_caption_every_time(tiny_gpt2):
    settings = DecodingSettings(top_k=16, num_iterations=2, max_tokens=5, beam_size=2)
    first = GuidedDecoder(tiny_gpt2, settings).caption(LetterShareScorer(), WordScorer("e"))
    again = GuidedDecoder(tiny_gpt2, settings).caption(LetterShareScorer(), WordScorer("e"))
    assert first.beams == again.beams


def test_results_report_lm_modality_and_classifier_scores_of_each_beam(tiny_gpt2):
    settings = DecodingSettings(top_k=16, num_iterations=1, max_tokens=3, beam_size=3)
    result = GuidedDecoder(tiny_gpt2, settings).caption(LetterShareScorer(), LetterShareScorer("e"))
    assert result.caption == result.beams[0].text and result.caption.startswith(settings.prompt)
    for beam in result.beams:
        assert beam.modality_score == pytest.approx(float(LetterShareScorer().score([beam.text])[0]))
        assert beam.classifier_score == pytest.approx(float(LetterShareScorer("e").score([beam.text])[0]))
    # The caption is the beam the modality scorer likes best.
    assert result.beams[0].modality_score == max(beam.modality_score for beam in result.beams)
    assert result.settings["decoding"] == settings.model_dump()


def test_text_only_mode_leaves_the_modality_score_out(tiny_gpt2):
    result = GuidedDecoder(tiny_gpt2, DecodingSettings(top_k=8, num_iterations=1, max_tokens=2)).caption(
        None, WordScorer("a"))
    assert all(beam.modality_score is None and beam.classifier_score is not None for beam in result.beams)


# ---- bad settings ---------------------------------------------------------------------------


def test_top_k_larger_than_the_vocabulary_is_refused(tiny_gpt2):
    with pytest.raises(SettingsError, match=r"decoding.top_k = 1000 is larger than the vocabulary .*260 tokens"):
        GuidedDecoder(tiny_gpt2, DecodingSettings(top_k=1000))


@pytest.mark.parametrize(("override", "named"), [
    ("decoding.step_size=-0.1", "decoding.step_size"),
    ("decoding.max_tokens=0", "decoding.max_tokens"),
    ("decoding.prompt=", "decoding.prompt"),
    ("decoding.top_k=0", "decoding.top_k"),
])
def test_bad_decoding_settings_are_refused_naming_the_setting(override, named):
    with pytest.raises(SettingsError, match=named):
        load_settings("tiny", overrides=[override])


@pytest.mark.parametrize("prompt", ["   ", "\n"])
def test_a_blank_prompt_is_refused(tiny_gpt2, prompt):
    with pytest.raises(SettingsError, match="decoding.prompt is empty"):
        GuidedDecoder(tiny_gpt2, DecodingSettings(prompt=prompt, top_k=16))


def test_an_end_token_of_several_tokens_is_refused(tiny_gpt2):
    with pytest.raises(SettingsError, match="decoding.end_token 'stop' is 4 tokens"):
        GuidedDecoder(tiny_gpt2, DecodingSettings(end_token="stop", top_k=16))


def test_a_prompt_longer_than_the_models_positions_is_refused_by_name(tiny_gpt2):
    # tiny:gpt2 has 256 positions and a byte tokenizer: 300 characters cannot fit.
    positions = tiny_gpt2.model.config.max_position_embeddings
    with pytest.raises(SettingsError, match=f"exceeds the {positions} positions"):
        GuidedDecoder(tiny_gpt2, DecodingSettings(prompt="a" * 300, top_k=16, max_tokens=4))
    with pytest.raises(SettingsError, match="decoding.max_tokens"):
        GuidedDecoder(tiny_gpt2, DecodingSettings(prompt="a" * (positions - 10), top_k=16, max_tokens=12))


def test_a_finished_beam_is_picked_over_an_unfinished_one_with_a_better_modality_score():
    from cgcap.decoding import Beam
    from cgcap.decoding.decoder import ranked

    open_best = Beam(text="Audio of a dog barking and", lm_score=-0.5, modality_score=0.9, finished=False)
    finished_worse = Beam(text="Audio of a dog.", lm_score=-2.0, modality_score=0.2, finished=True)
    finished_better = Beam(text="Audio of a dog barks.", lm_score=-3.0, modality_score=0.4, finished=True)
    assert ranked([open_best, finished_worse, finished_better]) == [finished_better, finished_worse, open_best]
    # Text-only (no modality score): the LM score decides among finished beams.
    plain = [b.model_copy(update={"modality_score": None}) for b in (open_best, finished_worse, finished_better)]
    assert [b.text for b in ranked(plain)] == ["Audio of a dog.", "Audio of a dog barks.", "Audio of a dog barking and"]
