"""A labelled dev set of real recordings and photos, built as a ``folder`` dataset.

A manifest (YAML) lists each item: where its file comes from, its licence, the words
that count as naming its content and reference captions. ``build_devset`` writes the
files plus ``captions.csv`` (read by ``read_folder`` like any folder dataset),
``content_words.json`` (file name -> words) and ``ATTRIBUTION.md``.

Sources, each a ``kind:argument`` string:

- ``freedesktop:NAME``: a clip of Debian's ``sound-theme-freedesktop``: from the
  vendored folder if it is there, else ``/usr/share/sounds/freedesktop/stereo``, else
  the package fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x``.
- ``espeak:VOICE``: the item's ``text`` spoken by ``espeak-ng -v VOICE``.
- ``skimage:FILE``: a photo inside the installed scikit-image wheel, copied as is.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from cgcap.data.datasets import DatasetError, modality_of

CONTENT_WORDS = "content_words.json"
FREEDESKTOP_PACKAGE = "sound-theme-freedesktop"
FREEDESKTOP_SYSTEM = Path("/usr/share/sounds/freedesktop/stereo")


class DevSetItem(BaseModel):
    file: str = Field(pattern=r"^[\w./-]+$", description="path inside the built folder, e.g. audio/bell.oga")
    source: str = Field(pattern=r"^(freedesktop|espeak|skimage):.+$")
    licence: str
    author: str
    words: list[str] = Field(min_length=1, description="words that count as naming the content")
    references: list[str] = Field(min_length=1, description="reference captions written for this item")
    text: str | None = Field(None, description="what espeak-ng says (espeak sources only)")

    @property
    def modality(self) -> str:
        return modality_of(self.file) or "unknown"


class DevSetManifest(BaseModel):
    version: int
    items: list[DevSetItem]


class DevSetBuildError(RuntimeError):
    """A source could not be obtained; the message says which and how to get it."""


def load_manifest(path: str | Path) -> DevSetManifest:
    path = Path(path)
    try:
        return DevSetManifest.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        raise DatasetError(f"dev-set manifest {path}: {error}") from None


def read_content_words(root: str | Path) -> dict[str, list[str]]:
    """File name -> content words, from ``content_words.json`` beside a folder dataset's media."""
    path = Path(root) / CONTENT_WORDS
    if not path.is_file():
        raise DatasetError(f"{path} not found: a grounding dev set needs a word list per file "
                           "(build one with `python3 scripts/make_devset.py --output DIR`)")
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise DatasetError(f"{path} must map each file name to a list of words")
    return data


class SourceFetcher:
    """Gets each source's bytes into place, fetching the freedesktop package at most once."""

    def __init__(self, vendored: Path | None = None, cache: Path | None = None):
        self.vendored = vendored
        self.cache = cache or Path(os.environ.get("CGCAP_CACHE", Path.home() / ".cache" / "cgcap")) / "devset"
        self._freedesktop: Path | None = None

    def put(self, item: DevSetItem, target: Path) -> None:
        kind, argument = item.source.split(":", 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "freedesktop":
            shutil.copyfile(self.freedesktop_clip(argument), target)
        elif kind == "espeak":
            self.speak(argument, item.text, target)
        else:
            shutil.copyfile(self.skimage_photo(argument), target)

    def freedesktop_clip(self, name: str) -> Path:
        for folder in (self.vendored, FREEDESKTOP_SYSTEM):
            if folder is not None and (folder / name).is_file():
                return folder / name
        if self._freedesktop is None:
            self._freedesktop = self._fetch_freedesktop()
        path = self._freedesktop / name
        if not path.is_file():
            raise DevSetBuildError(f"{FREEDESKTOP_PACKAGE} has no {name}")
        return path

    def _fetch_freedesktop(self) -> Path:
        folder = self.cache / FREEDESKTOP_PACKAGE
        stereo = folder / FREEDESKTOP_SYSTEM.relative_to("/")
        if stereo.is_dir():
            return stereo
        for tool in ("apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                raise DevSetBuildError(f"{tool} is not on PATH: install {FREEDESKTOP_PACKAGE} or build on Debian/Ubuntu")
        with tempfile.TemporaryDirectory() as scratch:
            fetched = subprocess.run(["apt-get", "download", FREEDESKTOP_PACKAGE], cwd=scratch,
                                     capture_output=True, text=True)
            debs = list(Path(scratch).glob("*.deb"))
            if fetched.returncode != 0 or not debs:
                raise DevSetBuildError(f"`apt-get download {FREEDESKTOP_PACKAGE}` failed (run `apt-get update` "
                                       f"first, or `apt-get install {FREEDESKTOP_PACKAGE}`): {fetched.stderr.strip()}")
            unpacked = Path(scratch) / "unpacked"
            unpacked.mkdir()
            if subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(unpacked)], capture_output=True).returncode != 0:
                raise DevSetBuildError(f"`dpkg-deb -x {debs[0].name}` failed")
            folder.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(unpacked, folder)  # only a complete unpack lands in the cache
        return stereo

    @staticmethod
    def speak(voice: str, text: str | None, target: Path) -> None:
        if not text:
            raise DevSetBuildError(f"{target.name}: an espeak source needs the item's text")
        if shutil.which("espeak-ng") is None:
            raise DevSetBuildError("espeak-ng is not on PATH: `apt-get install espeak-ng`")
        spoken = subprocess.run(["espeak-ng", "-v", voice, "-w", str(target), text], capture_output=True, text=True)
        if spoken.returncode != 0:
            raise DevSetBuildError(f"espeak-ng -v {voice} failed for {target.name}: {spoken.stderr.strip()}")

    @staticmethod
    def skimage_photo(name: str) -> Path:
        try:
            import skimage.data
        except ImportError:
            raise DevSetBuildError("scikit-image is not installed: `pip install scikit-image`") from None
        path = Path(skimage.data.__file__).parent / name
        if not path.is_file():
            raise DevSetBuildError(f"{name} is not inside the installed scikit-image wheel")
        return path


def build_devset(manifest: DevSetManifest, output: str | Path, vendored: str | Path | None = None,
                 only: list[str] | None = None, fetcher: SourceFetcher | None = None) -> list[DevSetItem]:
    """Writes the dev set (or the items named in ``only``) as a folder dataset under ``output``."""
    output = Path(output)
    items = manifest.items
    if only:
        unknown = set(only) - {item.file for item in items}
        if unknown:
            raise DatasetError(f"not in the dev-set manifest: {', '.join(sorted(unknown))}")
        items = [item for item in items if item.file in set(only)]
    fetcher = fetcher or SourceFetcher(Path(vendored) if vendored else None)
    output.mkdir(parents=True, exist_ok=True)
    for item in items:
        fetcher.put(item, output / item.file)
    with (output / "captions.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_name", "caption"])
        writer.writerows([item.file, reference] for item in items for reference in item.references)
    (output / CONTENT_WORDS).write_text(json.dumps({item.file: item.words for item in items}, indent=1) + "\n",
                                        encoding="utf-8")
    lines = ["# Dev-set files: sources and licences", "", "| file | source | licence | author |", "|---|---|---|---|"]
    lines += [f"| {item.file} | {item.source} | {item.licence} | {item.author} |" for item in items]
    (output / "ATTRIBUTION.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return items
