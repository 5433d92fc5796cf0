"""Dataset readers: each published layout, built here from real file formats, becomes one manifest."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cgcap.data.datasets import DatasetError, read_dataset


# Fixture builders, shared with tests/test_evaluation.py ------------------------------------------------------


def write_tone(path: Path, frequency: float = 440.0, seconds: float = 1.0, sample_rate: int = 16000) -> Path:
    """A real audio file (WAV/FLAC by extension): a sine tone with a little noise, never silent."""
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    rng = np.random.default_rng(int(frequency))
    wave = 0.3 * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.size)
    soundfile.write(path, wave.astype(np.float32), sample_rate)
    return path


def save_photo(path: Path, name: str = "chelsea", size: int = 64) -> Path:
    """A real photo from scikit-image's bundled data, saved as JPEG/PNG by extension."""
    from PIL import Image
    from skimage import data

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(getattr(data, name)()).convert("RGB").resize((size, size)).save(path)
    return path


def write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def make_clotho(root: Path, split: str = "evaluation", files: int = 3, missing: int = 0, corrupt: int = 0) -> Path:
    """Clotho v2 layout: clotho_captions_{split}.csv and the audio in {split}/."""
    rows = []
    for index in range(files + missing + corrupt):
        name = f"clip {index:02d}.wav"  # Clotho file names have spaces
        if index < files:
            write_tone(root / split / name, frequency=220.0 * (index + 1))
        elif index < files + missing:
            pass  # listed in the CSV, not on disk
        else:
            (root / split / name).write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")  # a WAV header, nothing inside
        rows.append([name] + [f"sound number {index} variant {k}" for k in range(1, 6)])
    write_csv(root / f"clotho_captions_{split}.csv", ["file_name"] + [f"caption_{k}" for k in range(1, 6)], rows)
    return root


# Readers -------------------------------------------------------------------------------------------------------


def test_audiocaps_groups_captions_per_clip_and_finds_audio_named_by_youtube_id(tmp_path):
    write_tone(tmp_path / "audio" / "test" / "abc123.wav")
    write_tone(tmp_path / "audio" / "test" / "Yxyz789.flac", frequency=880)  # the "Y" prefix some downloaders add
    write_csv(tmp_path / "test.csv", ["audiocap_id", "youtube_id", "start_time", "caption"], [
        ["1", "abc123", "30", "A dog barks"],
        ["2", "abc123", "30", "A dog is barking twice"],
        ["3", "xyz789", "0", "Rain falls on a roof"],
        ["4", "gone000", "10", "Wind blows"],
    ])
    manifest = read_dataset("audiocaps", tmp_path, "test")
    by_id = {item.id: item for item in manifest.items}
    assert by_id["abc123"].references == ["A dog barks", "A dog is barking twice"]
    assert by_id["abc123"].media_path.endswith("abc123.wav") and not by_id["abc123"].missing
    assert by_id["xyz789"].media_path.endswith("Yxyz789.flac")
    assert by_id["gone000"].missing and by_id["gone000"].references == ["Wind blows"]


def test_audiocaps_csv_without_its_columns_is_refused_by_name(tmp_path):
    write_csv(tmp_path / "test.csv", ["youtube_id", "text"], [["abc", "a dog"]])
    with pytest.raises(DatasetError, match="audiocap_id, caption, start_time"):
        read_dataset("audiocaps", tmp_path, "test")


def test_clotho_reads_five_captions_per_file_and_flags_missing_audio(tmp_path):
    make_clotho(tmp_path, files=2, missing=1)
    manifest = read_dataset("clotho", tmp_path, "evaluation")
    assert [item.id for item in manifest.items] == ["clip 00.wav", "clip 01.wav", "clip 02.wav"]
    assert manifest.items[0].references == [f"sound number 0 variant {k}" for k in range(1, 6)]
    assert [item.missing for item in manifest.items] == [False, False, True]
    assert Path(manifest.items[1].media_path) == tmp_path / "evaluation" / "clip 01.wav"


def test_coco_karpathy_json_selects_one_split_with_its_sentences(tmp_path):
    save_photo(tmp_path / "val2014" / "COCO_val2014_000000000042.jpg", "chelsea")
    save_photo(tmp_path / "train2014" / "COCO_train2014_000000000007.jpg", "coffee")
    images = [
        {"filepath": "val2014", "filename": "COCO_val2014_000000000042.jpg", "imgid": 0, "split": "test",
         "cocoid": 42, "sentences": [{"raw": "A cat lying down."}, {"raw": "An orange cat."}]},
        {"filepath": "train2014", "filename": "COCO_train2014_000000000007.jpg", "imgid": 1, "split": "train",
         "cocoid": 7, "sentences": [{"raw": "A cup of coffee."}]},
        {"filepath": "val2014", "filename": "COCO_val2014_000000000099.jpg", "imgid": 2, "split": "test",
         "cocoid": 99, "sentences": [{"raw": "Nothing here."}]},
    ]
    (tmp_path / "dataset_coco.json").write_text(json.dumps({"images": images, "dataset": "coco"}))
    manifest = read_dataset("coco", tmp_path, "test")
    assert [item.id for item in manifest.items] == ["42", "99"]
    assert manifest.items[0].references == ["A cat lying down.", "An orange cat."]
    assert [item.missing for item in manifest.items] == [False, True]


def test_coco_captions_json_joins_annotations_to_images_in_the_split_folder(tmp_path):
    save_photo(tmp_path / "val2014" / "a.jpg", "astronaut")
    save_photo(tmp_path / "val2014" / "b.jpg", "rocket")
    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}],
        "annotations": [{"image_id": 2, "id": 10, "caption": "A rocket on a pad."},
                        {"image_id": 1, "id": 11, "caption": "An astronaut."},
                        {"image_id": 2, "id": 12, "caption": "A launch."}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "captions_val2014.json").write_text(json.dumps(annotations))
    manifest = read_dataset("coco", tmp_path, "val2014")
    assert {item.id: item.references for item in manifest.items} == {
        "1": ["An astronaut."], "2": ["A rocket on a pad.", "A launch."]}
    assert not any(item.missing for item in manifest.items)


def test_folder_dataset_takes_every_media_file_and_optional_references(tmp_path):
    write_tone(tmp_path / "dog.wav")
    save_photo(tmp_path / "sub" / "cat.png", "chelsea")
    (tmp_path / "notes.txt").write_text("not media")
    without = read_dataset("folder", tmp_path)
    assert [item.id for item in without.items] == ["dog.wav", "sub/cat.png"]
    assert not without.has_references
    write_csv(tmp_path / "captions.csv", ["file_name", "caption"],
              [["dog.wav", "a dog"], ["dog.wav", "a tone"], ["gone.wav", "lost"]])
    with_refs = read_dataset("folder", tmp_path)
    by_id = {item.id: item for item in with_refs.items}
    assert by_id["dog.wav"].references == ["a dog", "a tone"]
    assert by_id["sub/cat.png"].references == []
    assert by_id["gone.wav"].missing


def test_limit_and_ids_select_a_subset_and_unknown_ids_are_named(tmp_path):
    make_clotho(tmp_path, files=3)
    manifest = read_dataset("clotho", tmp_path, "evaluation")
    assert [i.id for i in manifest.select(limit=2).items] == ["clip 00.wav", "clip 01.wav"]
    assert [i.id for i in manifest.select(ids=["clip 02.wav", "clip 00.wav"]).items] == ["clip 00.wav", "clip 02.wav"]
    with pytest.raises(DatasetError, match="nope.wav"):
        manifest.select(ids=["nope.wav"])


def test_wrong_layout_names_the_file_it_looked_for(tmp_path):
    with pytest.raises(DatasetError, match="clotho_captions_evaluation.csv"):
        read_dataset("clotho", tmp_path, "evaluation")
    with pytest.raises(DatasetError, match="--split is required"):
        read_dataset("audiocaps", tmp_path)
    with pytest.raises(DatasetError, match="unknown dataset"):
        read_dataset("librispeech", tmp_path, "test")


# Paths that leave the data root ----------------------------------------------------------------------------------


@pytest.mark.parametrize("escape", ["parent", "absolute", "symlink"])
def test_dataset_entries_that_leave_the_data_root_are_refused(tmp_path, escape):
    secret = write_tone(tmp_path / "elsewhere" / "secret.wav")
    root = make_clotho(tmp_path / "clotho", files=1)
    names = {"parent": "../../elsewhere/secret.wav", "absolute": str(secret), "symlink": "linked.wav"}
    if escape == "symlink":
        (root / "evaluation" / "linked.wav").symlink_to(secret)
    write_csv(root / "clotho_captions_evaluation.csv", ["file_name", "caption_1"],
              [["clip 00.wav", "a tone"], [names[escape], "a secret"]])

    with pytest.raises(DatasetError) as refused:
        read_dataset("clotho", root, "evaluation")

    message = str(refused.value)
    assert "1 item(s) of clotho/evaluation lie outside the data root" in message
    assert str(secret) in message and "clip 00.wav" not in message


def test_a_symlink_that_stays_inside_the_data_root_is_read(tmp_path):
    root = make_clotho(tmp_path / "clotho", files=1)
    (root / "evaluation" / "again.wav").symlink_to(root / "evaluation" / "clip 00.wav")
    write_csv(root / "clotho_captions_evaluation.csv", ["file_name", "caption_1"],
              [["clip 00.wav", "a tone"], ["again.wav", "the same tone"]])

    manifest = read_dataset("clotho", root, "evaluation")

    assert [item.id for item in manifest.items] == ["clip 00.wav", "again.wav"]
