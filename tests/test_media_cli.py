"""``cgcap media probe``: what the captioner would make of each file, and a one-line refusal."""

from __future__ import annotations

import json

import numpy as np

from cgcap.cli import main
from cgcap.data.media_synth import audio_bytes, tone


def test_probe_reports_each_files_modality_and_refusal_with_its_status(tmp_path, capsys):
    (tmp_path / "tone.ogg").write_bytes(audio_bytes(tone(440, 3.0, 16_000), 16_000, "ogg"))
    (tmp_path / "quiet.wav").write_bytes(audio_bytes(np.zeros(8_000, np.float32), 16_000, "wav"))

    status = main(["media", "probe", "--json", "--set", "limits.max_audio_seconds=5",
                   str(tmp_path / "tone.ogg"), str(tmp_path / "quiet.wav")])

    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert status == 2 and "1 of 2 files refused" in captured.err
    assert rows[0] == {"file": str(tmp_path / "tone.ogg"), "accepted": True, "modality": "audio", "format": "ogg",
                       "duration_seconds": 3.0, "sample_rate": 16_000, "samples": 48_000}
    assert rows[1]["accepted"] is False and rows[1]["status_code"] == 422 and "silent" in rows[1]["error"]


def test_probe_applies_the_limits_from_settings(tmp_path, capsys):
    (tmp_path / "tone.ogg").write_bytes(audio_bytes(tone(440, 3.0, 16_000), 16_000, "ogg"))

    status = main(["media", "probe", "--set", "limits.max_audio_seconds=2", str(tmp_path / "tone.ogg")])

    assert status == 2
    assert "refused: status_code 422, error 'tone.ogg' is 3.0 s of audio; the limit is 2 s" in capsys.readouterr().out
