"""Many captions in one decoding loop write what each writes alone.

The rows of a batch are (input, beam) pairs; each input's loss reads only its rows and
the gradient is normalised per row, so batching changes nothing mathematically. What
floating point may change is a wider product's last bits: on the tiny models and the
packaged offline models below no token changes, and the tests hold that exactly.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from cgcap.captioner import Captioner
from cgcap.classifier import TextClassifier
from cgcap.config import DecodingSettings, load_settings
from cgcap.data.media import decode_media
from cgcap.decoding import GuidedDecoder, ModalityScorer
from cgcap.decoding.decoder import CaptionCancelled, DecodeBatch, caption_together
from cgcap.models import load
from decoding_scorers import LetterShareScorer, WordScorer, oracle_for

SAMPLES = Path(__file__).resolve().parents[1] / "cgcap" / "samples"
BASE = DecodingSettings(top_k=16, num_iterations=2, max_tokens=6, lambda_cls=2.0)
# Inputs whose settings differ in everything but the LM: beams, prompt (and so length), iterations, the
# fast approximations, the wanted label, and no modality term at all.
MIXED = [
    (BASE, LetterShareScorer("aeiou")),
    (BASE.model_copy(update={"beam_size": 3}), LetterShareScorer("xyz")),
    (BASE.model_copy(update={"prompt": "A long photograph of the", "speed": "fast"}), LetterShareScorer("st")),
    (BASE.model_copy(update={"wanted_label": 0, "num_iterations": 3, "beam_size": 2}), None),
]


@pytest.fixture(scope="module")
def tiny_llama():
    return load("tiny:llama")


@pytest.fixture(scope="module")
def tiny_classifier():
    return TextClassifier.load("tiny:bert-classifier")


def tokens_of(result) -> list[list[int]]:
    return [beam.tokens for beam in result.beams]


def test_inputs_decoded_together_write_their_own_captions_and_the_oracles(tiny_llama, tiny_classifier):
    alone = [GuidedDecoder(tiny_llama, s).caption(m, tiny_classifier) for s, m in MIXED]
    together = caption_together([GuidedDecoder(tiny_llama, s).job(m, tiny_classifier) for s, m in MIXED])
    assert [tokens_of(job.result) for job in together] == [tokens_of(result) for result in alone]
    assert [job.result.caption for job in together] == [result.caption for result in alone]
    # The scorers pulled each input its own way: four different captions.
    assert len({job.result.caption for job in together}) == 4
    for (settings, modality), job in zip(MIXED, together):
        if settings.speed == "exact":  # the published loop, run alone, writes the same tokens
            reference = oracle_for(job.decoder).caption(modality, tiny_classifier)
            assert tokens_of(job.result) == [beam.tokens for beam in reference]


def test_an_input_joining_a_running_batch_is_padded_and_writes_what_it_writes_alone(tiny_llama, tiny_classifier):
    alone = [GuidedDecoder(tiny_llama, s).caption(m, tiny_classifier) for s, m in MIXED[:3]]
    batch = DecodeBatch(tiny_llama)
    jobs = [GuidedDecoder(tiny_llama, s).job(m, tiny_classifier) for s, m in MIXED[:3]]
    batch.add(jobs[0])
    batch.step(), batch.step()
    batch.add(jobs[2])  # a longer prompt than the rows already there: these rows are padded instead
    assert int(batch.context.pads.max()) > 0
    batch.step()
    batch.add(jobs[1])  # a shorter text than the running rows: its own rows are padded
    assert batch.rows == 1 + 1 + 1  # beam 1, beam 1, and the newcomer's single context before its first token
    batch.run()
    assert [tokens_of(job.result) for job in jobs] == [tokens_of(result) for result in alone]
    assert batch.context is None and batch.jobs == []  # finished inputs left; their rows went with them


def test_a_cancelled_input_leaves_and_its_neighbours_are_unchanged(tiny_llama, tiny_classifier):
    alone = GuidedDecoder(tiny_llama, MIXED[1][0]).caption(MIXED[1][1], tiny_classifier)
    asked = []
    stop_after_two = lambda: asked.append(1) or len(asked) > 2  # noqa: E731
    jobs = [GuidedDecoder(tiny_llama, MIXED[0][0]).job(MIXED[0][1], tiny_classifier, should_stop=stop_after_two),
            GuidedDecoder(tiny_llama, MIXED[1][0]).job(MIXED[1][1], tiny_classifier)]
    caption_together(jobs)
    assert isinstance(jobs[0].error, CaptionCancelled) and jobs[0].error.tokens == 2 and jobs[0].result is None
    assert tokens_of(jobs[1].result) == tokens_of(alone)


class CountingEmbedder:
    """A text tower whose embedding is a text's letter counts; records every call."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def embed_texts(self, texts: list[str]) -> torch.Tensor:
        self.calls.append(list(texts))
        return torch.stack([torch.tensor([text.count(c) + 0.1 for c in "aeiostxyz"]) for text in texts])


def test_each_step_scores_all_inputs_with_one_call_per_shared_text_tower(tiny_llama):
    settings = BASE.model_copy(update={"lambda_cls": 0.0, "max_tokens": 4, "end_factor": 1.0})
    directions = [torch.eye(9)[i] for i in (0, 5, 7)]  # three inputs: "a", "t", "y" wanted
    alone_calls, alone = 0, []
    for direction in directions:
        embedder = CountingEmbedder()
        alone.append(GuidedDecoder(tiny_llama, settings).caption(ModalityScorer(direction, embedder), None))
        alone_calls += len(embedder.calls)
    shared = CountingEmbedder()
    jobs = caption_together([GuidedDecoder(tiny_llama, settings).job(ModalityScorer(d, shared), None)
                             for d in directions])
    assert [tokens_of(job.result) for job in jobs] == [tokens_of(result) for result in alone]
    # One call per (token, iteration) for all three inputs: 4 tokens x 2 iterations, plus the final texts.
    assert len(shared.calls) <= 4 * 2 + 1 < alone_calls
    for call in shared.calls:
        assert len(call) == len(set(call))  # each distinct text once per call


@pytest.mark.slow  # the offline profile's real models, decoding batched and one by one
def test_the_offline_profile_pins_its_tokens_batched_and_alone():
    """The offline profile's full rule set (content words, forced completion, end ramp, first word apart,
    blanks, forbidden tokens, article) on the real packaged models: three inputs decoded together write the
    tokens each writes alone, and those tokens are pinned."""
    settings = load_settings("offline", overrides=["decoding.max_tokens=6"])
    captioner = Captioner.from_settings(settings)
    names = ["bell.flac", "chelsea.jpg", "cat_bell.mp4"]
    media = [decode_media(str(SAMPLES / name), settings.limits, name) for name in names]
    scorers = [captioner.input_scorer(m) for m in media]
    alone = [captioner.caption_media(m, n, modality_scorer=s) for m, n, s in zip(media, names, scorers)]
    together = captioner.caption_media_batch(media, names, modality_scorers=scorers)
    assert [tokens_of(r) for r in together] == [tokens_of(r) for r in alone]
    assert [r.caption for r in together] == [r.caption for r in alone]
    tokenizer = captioner.lm.tokenizer
    written = [tokenizer.decode(result.beams[0].tokens) for result in together]
    assert written == PINNED, written


PINNED = [" bell.", " cat.", " tabby cat."]
