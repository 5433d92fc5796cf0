"""``cgcap media probe``: what the captioner would make of each file, and a one-line refusal."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from cgcap.cli import CommandError
from cgcap.data import media_cli
from cgcap.data.media_synth import audio_bytes, tone


def probe(argv: list[str]) -> int:
    """Runs ``cgcap media ARGV`` through the command's own parser (without importing every area's CLI)."""
    parser = argparse.ArgumentParser(prog="cgcap")
    media_cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["media", *argv])
    return args.handler(args)


def test_probe_reports_each_files_modality_and_refusal_with_its_status(tmp_path, capsys):
    (tmp_path / "tone.ogg").write_bytes(audio_bytes(tone(440, 3.0, 16_000), 16_000, "ogg"))
    (tmp_path / "quiet.wav").write_bytes(audio_bytes(np.zeros(8_000, np.float32), 16_000, "wav"))

    with pytest.raises(CommandError, match="1 of 2 files refused"):  # cgcap prints it, exit status 2
        probe(["probe", "--json", "--set", "limits.max_audio_seconds=5",
               str(tmp_path / "tone.ogg"), str(tmp_path / "quiet.wav")])

    rows = json.loads(capsys.readouterr().out)
    assert rows[0] == {"file": str(tmp_path / "tone.ogg"), "accepted": True, "modality": "audio", "format": "ogg",
                       "duration_seconds": 3.0, "sample_rate": 16_000, "samples": 48_000, "warnings": []}
    assert rows[1]["accepted"] is False and rows[1]["status_code"] == 422 and "silent" in rows[1]["error"]


def test_probe_applies_the_limits_from_settings(tmp_path, capsys):
    (tmp_path / "tone.ogg").write_bytes(audio_bytes(tone(440, 3.0, 16_000), 16_000, "ogg"))

    with pytest.raises(CommandError):
        probe(["probe", "--set", "limits.max_audio_seconds=2", str(tmp_path / "tone.ogg")])

    out = capsys.readouterr().out
    assert f"{tmp_path / 'tone.ogg'}: refused: 'tone.ogg' is 3.0 s of audio; the limit is 2 s" in out
    assert "status" not in out and "422" not in out  # HTTP wording is for the service


def test_probe_accepts_the_bundled_samples(capsys):
    from importlib.resources import files

    samples = files("cgcap") / "samples"

    assert probe(["probe", str(samples / "bell.flac"), str(samples / "chelsea.jpg"), str(samples / "cat_bell.mp4")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["accepted"] * 3
    assert lines[1].endswith("chelsea.jpg: accepted: image, jpeg, 451x300")  # no duration for a still image
    assert "video, mp4" in lines[2] and "8 frames" in lines[2]
    assert "None" not in "\n".join(lines)


def test_probe_prints_what_was_wrong_with_a_file_it_still_accepts(tmp_path, capsys):
    wav = audio_bytes(tone(440, 1.0, 16_000), 16_000, "wav")
    (tmp_path / "short.wav").write_bytes(wav[:-10])  # a data chunk 10 bytes short of its header

    assert probe(["probe", str(tmp_path / "short.wav")]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("short.wav: accepted: audio, wav, 1 s, 16,000 Hz")
    assert lines[1].startswith("  warning: truncated: its header declares 32,044 bytes, 32,034 arrived")
