"""Decoding rules for grounded, complete captions: the input's words among the candidates, the end-token
ramp and a first token that starts a word."""

from __future__ import annotations

import re

import pytest
import torch

from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.decoding.content_candidates import ContentCandidates
from cgcap.decoding.rules import EndToken, OneName, Rows, build_rules
from cgcap.decoding.scoring import ModalityScorer
from cgcap.decoding.vocabulary import vocabulary_of
from cgcap.models import load
from decoding_scorers import RecordingScorer, WordScorer


class WordCountScorer:
    """How often ``word`` is written: a scorer that, like a cosine with the input, likes repeats."""

    def __init__(self, word: str):
        self.word = word

    def score(self, texts: list[str]) -> torch.Tensor:
        return torch.tensor([float(re.findall(r"[a-z]+", text.lower()).count(self.word)) for text in texts])


@pytest.fixture(scope="module")
def tiny_gpt2():
    return load("tiny:gpt2")


class WordsScorer(RecordingScorer):
    """A recording modality scorer that, like a tagger's, knows words naming its input."""

    def __init__(self, scorer, content_words: list[str]):
        super().__init__(scorer)
        self.content_words = content_words


def test_content_words_join_the_candidates_in_place_of_the_least_probable_tokens(tiny_gpt2):
    tokenizer = tiny_gpt2.tokenizer  # bytes: " zebra" is " ", "z", "e", "b", "r", "a"
    content = ContentCandidates(["Zebra", "zebra", "  "], tokenizer)
    ids = tokenizer.encode(" zebra", add_special_tokens=False)
    space = ids[0]
    assert content.first_ids == [space]  # one word, once, whatever its case; blanks ignored
    log_p = torch.log_softmax(torch.arange(260, dtype=torch.float32), dim=-1)[None]  # token 259 most probable
    log_p[0, space] = -1e9  # the content token is the least probable of all
    top = content.top_with_content(log_p, 8)
    assert top.shape == (1, 8) and space in top[0].tolist()
    assert set(top[0].tolist()) - {space} == set(range(259, 252, -1))  # the other 7 are the most probable


def test_a_content_word_of_several_tokens_is_scored_whole_and_then_finished(tiny_gpt2):
    tokenizer = tiny_gpt2.tokenizer
    content = ContentCandidates(["zebra"], tokenizer)
    ids = tokenizer.encode(" zebra", add_special_tokens=False)
    assert content.candidate_text("Audio of a", ids[0], " ") == "Audio of a zebra"
    assert content.candidate_text("Audio of a", ids[1], "z") == "Audio of az"  # other tokens: their own piece
    assert [content.forced_next([7] + ids[:n]) for n in range(1, 6)] == ids[1:]
    assert content.forced_next([7] + ids) is None and content.forced_next([7]) is None
    assert content.ends_word([7] + ids) and not content.ends_word(ids[:3])
    assert ids[0] in content.written([7] + ids + [9]) and content.written([7] + ids[:4]) == []


@pytest.mark.slow  # decodes with SmolLM2
def test_a_content_word_written_once_is_not_written_again_with_the_packaged_lm():
    # Each repeat of the input's word raises the cosine: unchecked, the dev set read "Audio of a tweet speech speech".
    lm = load("smollm2-135m")
    settings = DecodingSettings(top_k=16, num_iterations=3, max_tokens=5, content_candidates=True,
                                first_word_apart=True, lambda_cls=0.0, modality_temperature=0.05, end_factor=1.0)
    scorer = WordsScorer(WordCountScorer("speech"), ["speech"])
    caption = GuidedDecoder(lm, settings).caption(scorer, None).caption
    assert re.findall(r"[a-z]+", caption.lower()).count("speech") == 1, caption


@pytest.mark.slow  # decodes with SmolLM2
def test_the_decoder_writes_a_multi_token_content_word_whole_with_the_packaged_lm():
    # " espresso" is " esp" + "resso" for SmolLM2; scored as " esp" alone it wrote "especific" on the dev set.
    lm = load("smollm2-135m")
    assert len(lm.tokenizer.encode(" espresso", add_special_tokens=False)) == 2
    settings = DecodingSettings(prompt="Image of a", top_k=16, num_iterations=5, max_tokens=4, content_candidates=True,
                                first_word_apart=True, lambda_cls=0.0, modality_temperature=0.05)
    scorer = WordsScorer(WordScorer("espresso"), ["espresso"])
    result = GuidedDecoder(lm, settings).caption(scorer, None)
    # The whole word, not "esp" + whatever came next, with the prompt's "a" written "an" once decoded.
    assert result.caption.startswith("Image of an espresso")
    assert "Image of a espresso" in scorer.calls[0]  # its candidate was scored as the whole word, as decoded
    assert result.beams[0].modality_score == scorer.score([result.caption.replace(" an ", " a ", 1)])[0].item()
    assert not any(text.endswith(" esp") for call in scorer.calls for text in call)


@pytest.mark.parametrize("on", [True, False])
def test_the_modality_scorer_sees_its_content_words_only_when_content_candidates_is_on(tiny_gpt2, on):
    settings = DecodingSettings(top_k=8, num_iterations=1, max_tokens=3, content_candidates=on, lambda_cls=0.0,
                                end_factor=1.0)
    scorer = WordsScorer(WordScorer("zebra"), ["zebra"])
    GuidedDecoder(tiny_gpt2, settings).caption(scorer, None)
    first_step = scorer.calls[0]  # distinct candidate texts (byte pieces such as U+FFFD repeat)
    assert len(first_step) <= 8  # k candidates either way: the content word takes a place, it adds none
    assert ("Audio of a zebra" in first_step) is on  # the word's first token (" ") is scored as the word


def rows_at(step: int) -> Rows:
    return Rows(step=step, tokens=torch.zeros(1, 2, dtype=torch.long), caption_ids=[[]], forced=[None])


def apply_rules(logits: torch.Tensor, step: int, settings: DecodingSettings, vocabulary, end: int = 0) -> torch.Tensor:
    """The logits after every rule these settings build (before fusion), at ``step``."""
    for rule in build_rules(settings, vocabulary, end, torch.tensor([], dtype=torch.long), None):
        logits = rule(logits, rows_at(step))
    return logits


def test_end_ramp_raises_the_end_token_with_every_token_written():
    end = 3
    raised = [EndToken(end, factor=1.0, ramp=0.5)(torch.zeros(1, 10), rows_at(step))[0, end].item()
              for step in (1, 2, 6)]
    assert raised == pytest.approx([0.5, 1.0, 3.0])
    assert EndToken(end, factor=1.0, ramp=0.0)(torch.zeros(1, 10), rows_at(6))[0, end].item() == 0.0
    # ZeroCap's own rule: at the first caption token the end token is discouraged (÷1.6 of a positive logit).
    assert EndToken(end, factor=1.0, ramp=0.5)(torch.ones(1, 10), rows_at(0))[0, end].item() == pytest.approx(1 / 1.6)


def test_first_word_apart_keeps_the_first_token_from_gluing_onto_the_prompt():
    lm = load("smollm2-135m")
    vocabulary = vocabulary_of(lm)
    glued, spaced = lm.tokenizer.encode("While", add_special_tokens=False)[0], lm.tokenizer.encode(
        " bell", add_special_tokens=False)[0]
    assert glued in vocabulary.glued_ids.tolist() and spaced not in vocabulary.glued_ids.tolist()
    settings = DecodingSettings(first_word_apart=True)
    logits = torch.full((1, vocabulary.size), 2.0)
    ruled = apply_rules(logits.clone(), 0, settings, vocabulary)
    assert ruled[0, glued] == pytest.approx(2.0 / settings.forbidden_factor) and ruled[0, spaced] == 2.0
    later = apply_rules(logits.clone(), 1, settings, vocabulary)
    assert later[0, glued] == 2.0  # only the first caption token: "bell" + "s" is fine later


def test_first_word_apart_keeps_blank_tokens_out_of_captions():
    # "Audio of a" + " " + " buzz" would write "Audio of a  buzz".
    lm = load("smollm2-135m")
    vocabulary = vocabulary_of(lm)
    blank, spaced = lm.tokenizer.encode(" ", add_special_tokens=False)[0], lm.tokenizer.encode(
        " buzz", add_special_tokens=False)[0]
    assert blank in vocabulary.blank_ids.tolist() and spaced not in vocabulary.blank_ids.tolist()
    settings = DecodingSettings(first_word_apart=True)
    logits = torch.full((1, vocabulary.size), 2.0)
    for step in (0, 3):
        ruled = apply_rules(logits.clone(), step, settings, vocabulary)
        assert ruled[0, blank] == pytest.approx(2.0 / settings.forbidden_factor) and ruled[0, spaced] == 2.0
    off = apply_rules(logits.clone(), 3, DecodingSettings(), vocabulary)
    assert off[0, blank] == 2.0  # the paper profile's rules are unchanged


def test_a_modality_scorer_carries_the_words_it_was_given():
    scorer = ModalityScorer(torch.ones(3), embedder=None, content_words=["bell", "chime"])
    assert scorer.content_words == ["bell", "chime"]


def test_one_name_favours_the_names_first_then_the_end_and_no_second_name():
    lm = load("smollm2-135m")
    tokenizer = lm.tokenizer
    content = ContentCandidates(["church bell", "Egyptian cat"], tokenizer)
    bell, cat = (tokenizer.encode(word, add_special_tokens=False) for word in (" church bell", " Egyptian cat"))
    end, other = tokenizer.encode(".", add_special_tokens=False)[0], tokenizer.encode(" the", add_special_tokens=False)[0]
    rule = OneName(content, end, end_bonus=2.0, factor=20.0, first_bonus=1.5)
    size = len(tokenizer)

    def after(caption_ids: list[int], forced=None) -> torch.Tensor:
        rows = Rows(step=len(caption_ids), tokens=torch.zeros(1, 4, dtype=torch.long), caption_ids=[caption_ids],
                    forced=[forced])
        return rule(torch.full((1, size), 4.0), rows)[0]

    first = after([])
    assert (first[bell[0]].item(), first[cat[0]].item(), first[end].item(), first[other].item()) == (5.5, 5.5, 4, 4)
    # Half a name: the rule waits for the name to be finished (it is forced).
    assert torch.equal(after(bell[:1], forced=bell[1]), torch.full((size,), 4.0))
    named = after(bell)  # "church bell" written: the end gains, another name's first token is discouraged
    assert (named[end].item(), named[cat[0]].item(), named[other].item()) == (6.0, pytest.approx(0.2), 4.0)
    later = after(bell + [other])  # after more words: still no second name, and no more end bonus
    assert (later[end].item(), later[cat[0]].item()) == (4.0, pytest.approx(0.2))
    # In any form the decoder may write it: capitalised, or glued to punctuation.
    capital = tokenizer.encode(" Church", add_special_tokens=False)[0]
    assert later[capital].item() == pytest.approx(0.2)


@pytest.mark.slow  # decodes with SmolLM2
@pytest.mark.parametrize("one_name", [False, True])
def test_a_scorer_that_likes_every_name_gets_one_name_with_one_name(one_name):
    # A tagger's scores rise with every class name written, as a cosine with the input does: unchecked, the
    # decoder stacked them ("church bell egyptian cat").
    lm = load("smollm2-135m")
    settings = DecodingSettings(top_k=16, num_iterations=3, max_tokens=6, content_candidates=True, first_word_apart=True,
                                lambda_cls=0.0, modality_temperature=0.05, end_factor=1.0, one_name=one_name,
                                name_end_bonus=1.5, name_first_bonus=1.5)

    class NamesScorer(WordsScorer):
        def score(self, texts):
            self.calls.append(list(texts))
            return torch.tensor([float(sum(w in ("bell", "cat", "dog") for w in re.findall(r"[a-z]+", t.lower())))
                                 for t in texts])

    scorer = NamesScorer(None, ["bell", "cat", "dog"])
    caption = GuidedDecoder(lm, settings).caption(scorer, None).caption
    names = [w for w in re.findall(r"[a-z]+", caption.lower()) if w in ("bell", "cat", "dog")]
    if one_name:
        assert len(names) == 1, caption
    else:
        assert len(names) >= 2, caption


def test_the_first_word_bonus_follows_the_modality_target_among_the_names():
    # Crumpling paper: "paper crumpling" scored 0.27 and "fire crackling" 0.10 by the tagger encoder, yet SmolLM2
    # likes " fire" far more after "Audio of a"; a flat bonus wrote "fire crackling".
    lm = load("smollm2-135m")
    content = ContentCandidates(["paper crumpling", "fire crackling", "crackle"], lm.tokenizer)
    scores = torch.tensor([0.27, 0.10, 0.26])
    rule = OneName(content, 0, end_bonus=3.0, factor=20.0, first_bonus=5.0, temperature=0.05,
                   name_scores=lambda: scores)
    assert rule.first_bonuses().tolist() == pytest.approx([5.0, 1.6, 4.8])  # 5 - (0.27 - score) / 0.05
    assert OneName(content, 0, 3.0, 20.0, 5.0, 0.05, name_scores=lambda: torch.tensor([0.5, -0.2, 0.0])
                   ).first_bonuses().tolist() == pytest.approx([5.0, 0.0, 0.0])  # never below 0
    flat = OneName(content, 0, 3.0, 20.0, 5.0, 0.05, name_scores=lambda: None)  # not scored yet: all alike
    assert flat.first_bonuses().tolist() == [5.0, 5.0, 5.0]
    paper, fire = content.first_ids[:2]
    logits = rule(torch.zeros(1, len(lm.tokenizer)), Rows(0, torch.zeros(1, 3, dtype=torch.long), [[]], [None]))
    assert logits[0, paper].item() == pytest.approx(5.0) and logits[0, fire].item() == pytest.approx(1.6)


@pytest.mark.slow  # decodes with SmolLM2
def test_the_decoder_hands_the_rule_the_names_scores_after_the_prompt():
    from cgcap.decoding.decoder import caption_together

    lm = load("smollm2-135m")
    settings = DecodingSettings(top_k=16, num_iterations=2, max_tokens=3, content_candidates=True, first_word_apart=True,
                                lambda_cls=0.0, modality_temperature=0.05, one_name=True, name_first_bonus=5.0,
                                name_end_bonus=3.0)
    scorer = WordsScorer(WordScorer("zebra"), ["zebra", "horse"])
    job = GuidedDecoder(lm, settings).job(scorer, None)
    assert job.name_scores() is None  # nothing scored yet: the rule falls back to a flat bonus
    caption_together([job])
    expected = WordScorer("zebra").score(["Audio of a zebra", "Audio of a horse"])
    assert torch.equal(job.name_scores(), expected)
    assert job.result.caption.startswith("Audio of a zebra")
