"""Caption datasets, each read in its own published layout, as one manifest shape.

A manifest lists items (id, media path, reference captions). Items whose media file
is missing stay in the manifest, flagged, so the evaluation reports and counts them
instead of stopping: one missing file costs one row, not the run.

Layouts:

- ``audiocaps``: ``{split}.csv`` with ``audiocap_id,youtube_id,start_time,caption``
  (in ``DIR`` or ``DIR/csv``), audio files named by YouTube id (``ID.wav``,
  ``YID.wav`` or ``ID_START.wav``, any audio extension) in ``DIR/audio/{split}``,
  ``DIR/{split}``, ``DIR/audio`` or ``DIR``. Rows sharing a clip become one item
  with all its captions as references.
- ``clotho``: ``clotho_captions_{split}.csv`` with ``file_name,caption_1..caption_5``
  and the audio in ``DIR/{split}`` (the v2 archives' layout: development,
  validation, evaluation).
- ``coco``: the Karpathy split ``dataset_coco.json`` (``--split train|val|test|restval``,
  images under ``DIR/{filepath}/{filename}``), or ``annotations/captions_{split}.json``
  with the images in ``DIR/{split}`` (``--split val2014``).
- ``folder``: every audio, image and video file under ``DIR``; an optional
  ``captions.csv`` with ``file_name,caption`` rows gives references (repeat a file
  name for several).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field

AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".ogg", ".oga", ".m4a", ".aac", ".opus"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}  # what decode_media accepts
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".webm", ".mov", ".avi"}
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def modality_of(path: str | Path) -> str | None:
    """audio, image or video, as the file's extension says; None for another extension."""
    suffix = Path(path).suffix.lower()
    for modality, extensions in (("audio", AUDIO_EXTENSIONS), ("image", IMAGE_EXTENSIONS),
                                 ("video", VIDEO_EXTENSIONS)):
        if suffix in extensions:
            return modality
    return None


class DatasetError(ValueError):
    """The dataset folder does not have the expected layout; the message says what is missing."""


class CaptionItem(BaseModel):
    id: str
    media_path: str
    references: list[str] = Field(default_factory=list)
    missing: bool = False  # the media file is not on disk

    @property
    def modality(self) -> str | None:
        """audio, image or video, as the file's extension says (known before, or without, reading it)."""
        return modality_of(self.media_path)


class DatasetManifest(BaseModel):
    dataset: str
    split: str
    root: str
    items: list[CaptionItem]

    @property
    def has_references(self) -> bool:
        return any(item.references for item in self.items)

    def select(self, ids: list[str] | None = None, limit: int | None = None) -> "DatasetManifest":
        """The subset named by ``ids`` (in manifest order), then the first ``limit`` of it."""
        items = self.items
        if ids:
            wanted = set(ids)
            unknown = wanted - {item.id for item in items}
            if unknown:
                shown = ", ".join(sorted(unknown)[:5])
                raise DatasetError(f"{len(unknown)} requested id(s) are not in {self.dataset}/{self.split}: {shown}")
            items = [item for item in items if item.id in wanted]
        if limit is not None:
            items = items[:limit]
        return self.model_copy(update={"items": items})


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def _require_columns(path: Path, rows: list[dict[str, str]], columns: set[str]) -> None:
    present = set(rows[0]) if rows else set()
    if rows and not columns <= present:
        missing = ", ".join(sorted(columns - present))
        raise DatasetError(f"{path} lacks column(s) {missing}; has {', '.join(sorted(present))}")


def _first_file(candidates: list[Path], what: str) -> Path:
    for path in candidates:
        if path.is_file():
            return path
    raise DatasetError(f"{what} not found; looked for " + ", ".join(str(p) for p in candidates))


def _media_index(folders: list[Path], extensions: set[str]) -> dict[str, Path]:
    """File stem -> path over the first folders that exist (stems repeat across splits)."""
    index: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.is_file() and path.suffix.lower() in extensions:
                index.setdefault(path.stem, path)
    return index


def read_audiocaps(root: Path, split: str) -> DatasetManifest:
    table = _first_file([root / f"{split}.csv", root / "csv" / f"{split}.csv"], f"AudioCaps {split}.csv")
    rows = _read_csv(table)
    _require_columns(table, rows, {"audiocap_id", "youtube_id", "start_time", "caption"})
    audio = _media_index([root / "audio" / split, root / split, root / "audio", root], AUDIO_EXTENSIONS)
    references: dict[str, list[str]] = defaultdict(list)
    starts: dict[str, str] = {}
    for row in rows:
        clip = row["youtube_id"].strip()
        references[clip].append(row["caption"].strip())
        starts.setdefault(clip, row["start_time"].strip())
    items = []
    for clip, captions in references.items():
        start = starts[clip]
        # Downloaders name clips by id alone, with YouTube's "Y" prefix, or with the start time.
        found = next((audio[stem] for stem in (clip, f"Y{clip}", f"{clip}_{start}") if stem in audio), None)
        path = found or (root / "audio" / split / f"{clip}.wav")
        items.append(CaptionItem(id=clip, media_path=str(path), references=captions, missing=found is None))
    return DatasetManifest(dataset="audiocaps", split=split, root=str(root), items=items)


def read_clotho(root: Path, split: str) -> DatasetManifest:
    table = _first_file(
        [root / f"clotho_captions_{split}.csv", root / "csv" / f"clotho_captions_{split}.csv"],
        f"Clotho clotho_captions_{split}.csv",
    )
    rows = _read_csv(table)
    _require_columns(table, rows, {"file_name", "caption_1"})
    folder = next((f for f in (root / split, root / "audio" / split, root / "clotho_audio_files" / split) if f.is_dir()),
                  root / split)
    items = []
    for row in rows:
        name = row["file_name"].strip()
        captions = [row[f"caption_{i}"].strip() for i in range(1, 6) if (row.get(f"caption_{i}") or "").strip()]
        path = folder / name
        items.append(CaptionItem(id=name, media_path=str(path), references=captions, missing=not path.is_file()))
    return DatasetManifest(dataset="clotho", split=split, root=str(root), items=items)


KARPATHY_SPLITS = {"train", "val", "test", "restval"}


def read_coco(root: Path, split: str) -> DatasetManifest:
    karpathy = next((p for p in (root / "dataset_coco.json", root / "annotations" / "dataset_coco.json") if p.is_file()),
                    None)
    if split in KARPATHY_SPLITS and karpathy is not None:
        return _read_coco_karpathy(root, split, karpathy)
    annotations = _first_file(
        [root / "annotations" / f"captions_{split}.json", root / f"captions_{split}.json"],
        f"COCO captions_{split}.json (or dataset_coco.json for the Karpathy splits {sorted(KARPATHY_SPLITS)})",
    )
    data = json.loads(annotations.read_text())
    references: dict[int, list[str]] = defaultdict(list)
    for annotation in data.get("annotations", []):
        references[annotation["image_id"]].append(annotation["caption"].strip())
    folder = next((f for f in (root / split, root / "images" / split) if f.is_dir()), root / split)
    items = []
    for image in data.get("images", []):
        path = folder / image["file_name"]
        items.append(CaptionItem(id=str(image["id"]), media_path=str(path), references=references.get(image["id"], []),
                                 missing=not path.is_file()))
    return DatasetManifest(dataset="coco", split=split, root=str(root), items=items)


def _read_coco_karpathy(root: Path, split: str, path: Path) -> DatasetManifest:
    images = json.loads(path.read_text()).get("images", [])
    items = []
    for image in images:
        if image.get("split") != split:
            continue
        media = root / image.get("filepath", "") / image["filename"]
        image_id = image.get("cocoid", image.get("imgid"))
        captions = [sentence["raw"].strip() for sentence in image.get("sentences", [])]
        items.append(CaptionItem(id=str(image_id), media_path=str(media), references=captions,
                                 missing=not media.is_file()))
    return DatasetManifest(dataset="coco", split=split, root=str(root), items=items)


def read_folder(root: Path, split: str = "all") -> DatasetManifest:
    references: dict[str, list[str]] = defaultdict(list)
    table = root / "captions.csv"
    if table.is_file():
        rows = _read_csv(table)
        _require_columns(table, rows, {"file_name", "caption"})
        for row in rows:
            references[row["file_name"].strip()].append(row["caption"].strip())
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MEDIA_EXTENSIONS)
    items = []
    for path in files:
        name = path.relative_to(root).as_posix()
        items.append(CaptionItem(id=name, media_path=str(path), references=references.pop(name, [])))
    # Captions naming files that are not there are media files gone missing.
    for name, captions in references.items():
        items.append(CaptionItem(id=name, media_path=str(root / name), references=captions, missing=True))
    return DatasetManifest(dataset="folder", split=split, root=str(root), items=items)


READERS: dict[str, Callable[[Path, str], DatasetManifest]] = {
    "audiocaps": read_audiocaps,
    "clotho": read_clotho,
    "coco": read_coco,
    "folder": read_folder,
}


def read_dataset(name: str, root: str | Path, split: str | None = None) -> DatasetManifest:
    """The manifest of ``name`` (a key of ``READERS``) read from ``root`` in its own layout."""
    if name not in READERS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(READERS)}")
    folder = Path(root).expanduser()
    if not folder.is_dir():
        raise DatasetError(f"data root {folder} is not a folder")
    if split is None:
        if name != "folder":
            raise DatasetError(f"--split is required for {name}")
        split = "all"
    manifest = READERS[name](folder, split)
    if not manifest.items:
        raise DatasetError(f"{name} split {split!r} under {folder} has no items")
    _refuse_paths_outside(manifest, folder)
    return manifest


def _refuse_paths_outside(manifest: DatasetManifest, folder: Path) -> None:
    """A dataset reads only under its data root: ``../../x`` or an absolute path in a CSV, or a
    symlink pointing out, would let a shared dataset file make the job read any file the worker can."""
    root = folder.resolve()
    outside = [item for item in manifest.items if not Path(item.media_path).resolve().is_relative_to(root)]
    if outside:
        shown = "; ".join(f"{item.id!r} -> {Path(item.media_path).resolve()}" for item in outside[:3])
        raise DatasetError(f"{len(outside)} item(s) of {manifest.dataset}/{manifest.split} lie outside the data root "
                           f"{root} ({shown}); a dataset may only name files under --data-root")
