"""Evaluation correctness: metric-only settings never block resume, the metrics' models are checked
before captioning, any per-item failure costs one row, and each item is decoded and embedded once."""

from __future__ import annotations

import json

import pytest
import torch

from cgcap.config import load_settings
from cgcap.cli import main as cgcap_main
from cgcap.evaluation.predictions import PredictionStore
from test_datasets import make_clotho, write_tone

pytestmark = pytest.mark.slow  # whole evaluations on the tiny profile


def evaluate(argv: list[str]) -> int:
    """``cgcap evaluate ARGV``, what ``jobs/evaluate.py ARGV`` runs."""
    return cgcap_main(["evaluate", *argv])


def clotho_args(tmp_path, *extra: str) -> list[str]:
    return ["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
            "--output", str(tmp_path / "out"), "--profile", "tiny", "--quiet", *extra]


def test_adding_a_judge_or_metric_setting_to_a_finished_evaluation_resumes_it(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=0, missing=1)
    assert evaluate(clotho_args(tmp_path)) == 0
    judged = clotho_args(tmp_path, "--set", "models.judge_classifier=tiny:bert-classifier@1",
                         "--set", "evaluation.audibility_threshold=0.7", "--set", "evaluation.bertscore_encoder=null")
    assert evaluate(judged) == 0, capsys.readouterr().err
    assert evaluate(clotho_args(tmp_path, "--set", "decoding.top_k=3")) == 2  # a caption setting still refuses


def test_a_judge_that_cannot_load_fails_before_any_captioning(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=1)
    status = evaluate(clotho_args(tmp_path, "--set", "models.judge_classifier=models:/no-such-judge@champion"))
    assert status == 2
    message = capsys.readouterr().err
    assert "models.judge_classifier 'models:/no-such-judge@champion'" in message
    assert PredictionStore(tmp_path / "out").part_files() == []


def test_a_bertscore_encoder_that_cannot_load_fails_before_any_captioning(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=1)
    status = evaluate(clotho_args(tmp_path, "--set", f"evaluation.bertscore_encoder={tmp_path / 'no-encoder'}"))
    assert status == 2
    message = capsys.readouterr().err
    assert "evaluation.bertscore_encoder" in message and "does not exist" in message
    assert PredictionStore(tmp_path / "out").part_files() == []


def test_a_registered_judge_is_looked_up_in_the_store_the_settings_name(tmp_path, monkeypatch, capsys):
    from test_serve_http import register_mlflow_classifier

    # No store from the environment (an earlier command line may have set one): only the settings name it.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    store = f"sqlite:///{tmp_path / 'settings-store.db'}"
    judge = register_mlflow_classifier(store, "tiny:bert-classifier@2", "judge-in-settings-store")
    monkeypatch.chdir(tmp_path)  # MLflow's own default store would be here, and empty
    make_clotho(tmp_path / "clotho", files=0, missing=1)
    status = evaluate(clotho_args(tmp_path, "--set", f"tracking.tracking_uri={store}",
                                  "--set", f"models.judge_classifier={judge}", "--set", "evaluation.bertscore_encoder=null"))
    assert status == 0, capsys.readouterr().err


# --- the actor: one row per item, whatever fails -------------------------------------------------------------


class CountingEncoder:
    """A real encoder that counts input embeddings and can run out of memory on its first text batches."""

    def __init__(self, encoder, out_of_memory: int = 0):
        self.encoder, self.modality, self.spec = encoder, encoder.modality, encoder.spec
        self.inputs = 0
        self.out_of_memory = out_of_memory

    def embed_input(self, media):
        self.inputs += 1
        return self.encoder.embed_input(media)

    def embed_texts(self, texts):
        if self.out_of_memory:
            self.out_of_memory -= 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.encoder.embed_texts(texts)


@pytest.fixture(scope="module")
def actor():
    from cgcap.evaluation.actor import CaptioningActor

    return CaptioningActor(load_settings("tiny", overrides=["decoding.max_tokens=2"]).model_dump(mode="json"))


@pytest.fixture
def counting(actor):
    audio = CountingEncoder(actor.captioner.encoders["audio"])
    original = actor.captioner.encoders
    actor.captioner.encoders = {"audio": audio, "image": original["image"]}
    yield audio
    actor.captioner.encoders = original


def test_each_item_is_decoded_and_embedded_once_for_captioning_and_similarity(actor, counting, tmp_path, monkeypatch):
    import cgcap.data.media as media_module

    decoded = []
    real_decode = media_module.decode_media
    monkeypatch.setattr(media_module, "decode_media", lambda *a, **k: decoded.append(a[0]) or real_decode(*a, **k))
    path = write_tone(tmp_path / "tone.wav")
    row = actor.caption_item("tone.wav", str(path))
    assert row.caption is not None and row.error is None
    assert counting.inputs == 1 and decoded == [str(path)]
    # The similarity is the cosine of that one input embedding with the caption's text embedding.
    expected = torch.dot(counting.encoder.embed_input(real_decode(str(path), actor.settings.limits)),
                         counting.encoder.embed_texts([row.caption])[0])
    assert row.input_caption_similarity == pytest.approx(float(expected), abs=1e-5)


def test_a_prediction_keeps_the_decoded_caption_and_what_only_the_captioning_models_can_say(actor, tmp_path):
    from cgcap.metrics.fluency import mean_log_probability

    path = str(write_tone(tmp_path / "tone.wav"))
    row = actor.caption_item("tone.wav", path)
    result = actor.captioner.caption(path)  # the same settings and models: the same caption
    assert row.caption_with_prompt == row.whole_caption == result.caption
    assert row.lm_logprob == pytest.approx(mean_log_probability(actor.captioner.lm, result.caption, result.prompt))
    assert row.wanted_label == actor.settings.decoding.wanted_label
    assert row.tokens == result.timings["tokens"] and row.ended_on_own == result.beams[0].finished
    assert row.input_words is None  # the tiny CLAP has no words of its own for its input


def test_a_captioner_with_other_decoding_settings_shares_the_loaded_models(actor):
    from cgcap.config import with_decoding

    other = actor.captioner.with_settings(with_decoding(actor.settings, lambda_modality=0.0))
    assert other.lm is actor.captioner.lm and other.encoders is actor.captioner.encoders
    assert other.classifier is actor.captioner.classifier
    assert other.settings.decoding.lambda_modality == 0.0
    with pytest.raises(ValueError, match="model settings"):
        actor.captioner.with_settings(actor.settings.model_copy(update={"models": actor.settings.models.model_copy(
            update={"classifier": "minilm-l6"})}))


def test_out_of_memory_is_retried_once_then_costs_only_its_row(actor, counting, tmp_path):
    path = str(write_tone(tmp_path / "tone.wav"))
    counting.out_of_memory = 1
    assert actor.caption_item("once", path).caption is not None  # the retry succeeded
    counting.out_of_memory = 2
    row = actor.caption_item("twice", path)
    assert row.caption is None and row.error.startswith("OutOfMemoryError") and "out of memory" in row.error


def test_any_failure_costs_one_row_with_its_reason(tmp_path):
    import pandas as pd

    from cgcap.evaluation.actor import CaptioningActor

    # An image encoder where the audio one belongs: its mismatch is a ValueError, not a media error.
    mismatched = CaptioningActor(load_settings("tiny", overrides=["models.audio_encoder=tiny:clip",
                                                                  "decoding.max_tokens=2"]).model_dump(mode="json"))
    (tmp_path / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    image = tmp_path / "red.png"
    from PIL import Image

    Image.new("RGB", (32, 32), (200, 30, 30)).save(image)
    batch = pd.DataFrame({"id": ["tone", "broken", "red"],
                          "media_path": [str(write_tone(tmp_path / "tone.wav")), str(tmp_path / "broken.wav"),
                                         str(image)]})
    frame = mismatched(batch)
    rows = {row["id"]: row for row in frame.astype(object).where(frame.notna(), None).to_dict("records")}
    assert rows["red"]["caption"] is not None  # the rest of the batch is captioned
    assert rows["broken"]["error"].startswith("unreadable media")
    assert rows["tone"]["caption"] is None
    assert rows["tone"]["error"] == "ValueError: tone.wav is audio: the image encoder embeds images and video frames"
    assert json.loads(rows["red"]["model_ids"])["image_encoder"] == "tiny:clip"
