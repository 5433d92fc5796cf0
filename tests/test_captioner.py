"""Captioner wiring (media -> encoders -> modality scorer, classifier, decoder) and the
``cgcap caption`` command, on the tiny profile with real audio and image files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile
from PIL import Image

from cgcap.captioner import Captioner
from cgcap.cli import main
from cgcap.config import SettingsError, load_settings
from cgcap.data.media import MediaError, decode_media
from cgcap.decoding import GuidedDecoder
from cgcap.encoders import input_scorer


@pytest.fixture(scope="module")
def media_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    seconds = np.arange(16000 * 2) / 16000
    soundfile.write(folder / "tone.wav", (0.3 * np.sin(2 * np.pi * 440 * seconds)).astype(np.float32), 16000)
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (200, 30, 30)
    Image.fromarray(pixels).save(folder / "red.png")
    (folder / "notes.txt").write_text("not media at all\n")
    return folder


@pytest.fixture(scope="module")
def captioner():
    return Captioner.from_settings(load_settings("tiny"))


def test_captioning_a_file_equals_the_decoder_with_that_inputs_modality_scorer(captioner, media_files):
    path = media_files / "tone.wav"
    result = captioner.caption(str(path))
    settings = captioner.settings
    scorer = input_scorer(decode_media(path, settings.limits), captioner.encoders)
    direct = GuidedDecoder(captioner.lm, settings.decoding).caption(scorer, captioner.classifier)
    assert [beam.tokens for beam in result.beams] == [beam.tokens for beam in direct.beams]
    assert result.beams[0].modality_score == pytest.approx(float(scorer.score([result.caption])[0]))

    assert (result.input, result.modality, result.warnings) == ("tone.wav", "audio", [])
    assert result.model_ids == {"language_model": "tiny:gpt2", "classifier": "tiny:bert-classifier",
                                "audio_encoder": "tiny:clap"}
    assert {"decode_media", "embed_input", "decode", "scoring", "total"} <= set(result.timings)
    assert result.settings == settings.model_dump()


def test_an_image_is_guided_by_the_image_encoder_and_bytes_work_like_paths(captioner, media_files):
    path = media_files / "red.png"
    from_path = captioner.caption(path)
    from_bytes = captioner.caption(path.read_bytes(), filename="upload.png")
    assert from_path.modality == "image" and from_path.model_ids["image_encoder"] == "tiny:clip"
    assert from_bytes.input == "upload.png"
    assert from_bytes.beams == from_path.beams


def test_per_call_options_change_the_decoding_and_are_validated(captioner):
    short = captioner.caption_text_only(options={"max_tokens": 2, "top_k": 8})
    assert len(short.beams[0].tokens) <= 2 and short.settings["decoding"]["top_k"] == 8
    assert short.modality is None and short.beams[0].modality_score is None
    assert captioner.caption_text_only(prompt="The sound").caption.startswith("The sound")
    with pytest.raises(SettingsError, match="decoding.step_size"):
        captioner.caption_text_only(options={"step_size": -1})
    with pytest.raises(SettingsError, match="decoding.colour: unknown setting"):
        captioner.caption_text_only(options={"colour": "red"})
    with pytest.raises(SettingsError, match="top_k = 5000 is larger than the vocabulary"):
        captioner.caption_text_only(options={"top_k": 5000})


def test_plain_zerocap_never_loads_or_calls_the_classifier(media_files):
    captioner = Captioner.from_settings(load_settings("tiny", overrides=["decoding.lambda_cls=0"]))
    result = captioner.caption(media_files / "tone.wav")
    assert captioner._classifier is None and "classifier" not in result.model_ids
    assert result.beams[0].classifier_score is None


def test_a_file_that_is_not_media_is_refused_by_name(captioner, media_files):
    with pytest.raises(MediaError, match="notes.txt"):
        captioner.caption(media_files / "notes.txt")


def test_caption_command_prints_one_json_object_per_input(media_files, capsys):
    code = main(["caption", str(media_files / "tone.wav"), str(media_files / "red.png"), "--profile", "tiny",
                 "--set", "decoding.max_tokens=3", "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    objects = [json.loads(line) for line in lines]
    assert [o["input"] for o in objects] == ["tone.wav", "red.png"]
    for found in objects:
        assert found["caption"] == found["beams"][0]["text"]
        assert found["beams"][0]["modality_score"] is not None and found["beams"][0]["lm_score"] < 0
        assert found["timings"]["decode"] > 0 and found["model_ids"]["language_model"] == "tiny:gpt2"
        assert found["settings"]["decoding"]["max_tokens"] == 3 and found["settings"]["profile"] == "tiny"


def test_a_damaged_file_captioned_anyway_carries_its_warnings_in_json_and_on_stderr(media_files, tmp_path, capsys):
    (tmp_path / "short.wav").write_bytes((media_files / "tone.wav").read_bytes()[:-6])
    argv = ["caption", str(tmp_path / "short.wav"), "--profile", "tiny", "--set", "decoding.max_tokens=2"]

    assert main([*argv, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert len(found["warnings"]) == 1
    assert found["warnings"][0].startswith("truncated: its header declares 64,044 bytes, 64,038 arrived")

    assert main(argv) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("short.wav: ")
    assert captured.err.strip() == f"cgcap: {tmp_path / 'short.wav'}: warning: {found['warnings'][0]}"


def test_caption_command_text_only(capsys):
    code = main(["caption", "--text-only", "--prompt", "Audio of a", "--profile", "tiny"])
    out = capsys.readouterr().out.strip()
    assert code == 0 and out.startswith("Audio of a") and len(out.splitlines()) == 1


@pytest.mark.parametrize(("argv", "message"), [
    (["caption", "--profile", "tiny"], "give one or more media files"),
    (["caption", "--text-only", "--profile", "tiny", "--set", "decoding.max_tokens=0"], "decoding.max_tokens"),
    (["caption", "--text-only", "--profile", "tiny", "--set", "decoding.top_k=999"], "larger than the vocabulary"),
    (["caption", "--text-only", "--profile", "tiny", "--prompt", " "], "decoding.prompt is empty"),
])
def test_caption_command_refuses_bad_use_in_one_line(argv, message, capsys):
    assert main(argv) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and len(error.splitlines()) == 1


def test_caption_command_names_missing_files_before_loading_any_model(media_files, capsys):
    # The language model spec does not exist: loading it first would fail with that error instead.
    code = main(["caption", str(media_files / "tone.wav"), "missing.flac", "--profile", "tiny",
                 "--set", "models.language_model=tiny:nonexistent"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "cgcap: error: no such file: missing.flac"


def test_caption_command_reports_unreadable_files_and_captions_the_rest(media_files, capsys):
    code = main(["caption", str(media_files / "notes.txt"), str(media_files / "red.png"), "--profile", "tiny",
                 "--set", "decoding.max_tokens=2"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out.startswith("red.png: ")
    assert "notes.txt" in captured.err and "1 of 2 inputs could not be captioned" in captured.err


def test_additive_form_without_the_modality_term_never_loads_the_classifier():
    from cgcap.captioner import Captioner
    from cgcap.config import load_settings

    settings = load_settings("tiny", overrides=["decoding.classifier_form=additive", "decoding.lambda_modality=0",
                                                "decoding.max_tokens=2", "models.classifier=tiny:nonexistent"])
    result = Captioner.from_settings(settings).caption_text_only()
    assert "classifier" not in result.model_ids  # a load of the bogus classifier would have raised
