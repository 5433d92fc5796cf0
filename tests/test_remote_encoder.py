"""The decoder replica asks the Encoder deployment about an input once, not once per question."""

import torch

from cgcap.serving.remote import BatchTally, RemoteEncoder


class _Answer:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


class _Method:
    def __init__(self, answer):
        self.answer, self.calls = answer, []

    def remote(self, *args):
        self.calls.append(args)
        return _Answer(self.answer(*args))


class _EncoderHandle:
    """Answers like the Encoder deployment: a tagger's embedding and words, per media object."""

    def __init__(self):
        self.describe_input = _Method(lambda modality, media: (torch.full((3,), float(len(media))), [f"word{len(media)}"]))


def test_embedding_and_content_words_come_from_one_call_per_input():
    handle = _EncoderHandle()
    encoder = RemoteEncoder(handle, "audio", "yamnet-minilm", BatchTally())
    first, second = b"clip", b"longer clip"

    assert encoder.embed_input(first).tolist() == [4.0, 4.0, 4.0]
    assert encoder.content_words(first) == ["word4"]
    assert handle.describe_input.calls == [("audio", first)]

    # A new input is asked about again, and its answers are its own.
    assert encoder.content_words(second) == ["word11"]
    assert encoder.embed_input(second).tolist() == [11.0, 11.0, 11.0]
    assert handle.describe_input.calls == [("audio", first), ("audio", second)]


class _Logged:
    """A deployment method whose calls and waits go into one shared log, answering with ``answer``."""

    def __init__(self, name, log, answer):
        self.name, self.log, self.answer = name, log, answer

    def remote(self, *args):
        self.log.append(("sent", self.name))
        value = self.answer(*args)
        log, name = self.log, self.name

        class Response:
            def result(self):
                log.append(("waited", name))
                return value

        return Response()


def test_a_step_sends_the_encoder_and_the_classifier_their_calls_before_waiting_for_either():
    """The two deployments score a step's candidates at the same time: one round trip, not two in a row."""
    from types import SimpleNamespace

    from cgcap.decoding.score_cache import CachedScorer, score_together
    from cgcap.decoding.scoring import ModalityScorer
    from cgcap.serving.remote import Batched, RemoteClassifier

    log = []
    # Text i embeds along axis i % 2; the input lies along axis 0, so its cosines are 1, 0, 1, ...
    embed = _Logged("encoder", log, lambda modality, texts: Batched(
        torch.eye(2)[[i % 2 for i in range(len(texts))]], 1))
    score = _Logged("classifier", log, lambda texts: Batched(torch.tensor([len(t) / 10 for t in texts]), 1))
    tally = BatchTally()
    encoder = RemoteEncoder(SimpleNamespace(embed_texts=embed), "audio", "yamnet-minilm", tally)
    classifier_handle = SimpleNamespace(options=lambda multiplexed_model_id: SimpleNamespace(score=score))
    classifier = RemoteClassifier(classifier_handle, "minilm-l6-audibility", tally)
    modality = CachedScorer(ModalityScorer(torch.tensor([2.0, 0.0]), encoder), "modality")
    cls = CachedScorer(classifier, "classifier")

    texts = ["a bell", "a dog barking", "a bell ringing"]
    got_modality, got_classifier = score_together([(modality, texts), (cls, texts)])

    assert log == [("sent", "encoder"), ("sent", "classifier"), ("waited", "encoder"), ("waited", "classifier")]
    assert got_modality.tolist() == [1.0, 0.0, 1.0]
    assert got_classifier.tolist() == torch.tensor([0.6, 1.3, 1.4]).tolist()
    assert set(tally.summary()) == {"embed_texts", "classifier"}
