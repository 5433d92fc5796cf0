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
