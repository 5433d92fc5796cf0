"""The public audibility sentences: where they are found, and fetching them once when they are not.

They are looked for in ``$CGCAP_AUDIBILITY_DATA`` (only there, when it is set), then in
``../shared/data/audibility`` beside the repository or the working folder, then in the
copy fetched into the cache (``~/.cache/cgcap/data/audibility``). ``ensure`` (run by
``scripts/install.sh``) downloads them from a pinned commit of their public repository
when none of those holds them. The source states no licence, so the sentences are never
copied into this repository.

    python3 -m cgcap.classifier.audibility_data        # find or fetch; prints the folder
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import sys
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

DATA_ENV = "CGCAP_AUDIBILITY_DATA"
SOURCE_REPOSITORY = "arielshaulov/zero-shot-audio-captioning"
SOURCE_COMMIT = "c27bc303e5a4d836714858a27c02a812b62d537f"  # the commit that added audibility-dataset/
SOURCE_URL = f"https://raw.githubusercontent.com/{SOURCE_REPOSITORY}/{SOURCE_COMMIT}/audibility-dataset"
# The files at that commit, with their SHA-256. Not pinned yet: the machine this was written on
# cannot reach GitHub, so the hashes could not be computed. Until they are, a fetch records the
# hashes it saw in SHA256SUMS beside the files (and logs them) and checks the content's shape.
SOURCE_FILES: dict[str, str | None] = {"audible.txt": None, "notAudible.txt": None}
POSITIVE_NAMES = ("audible.txt",)
NEGATIVE_NAMES = ("not_audible.txt", "notAudible.txt")  # ours, then the public repository's
MIN_SENTENCES = 1000  # each public file holds thousands; fewer means an error page or a cut download


class AudibilityDataError(RuntimeError):
    """The sentences are not here and could not be fetched; the message says what to do."""


def how_to_get() -> str:
    return (f"put audible.txt and not_audible.txt (one sentence a line) in a folder and set {DATA_ENV} to it, "
            "place them in ../shared/data/audibility beside the repository, or run "
            f"`python3 -m cgcap.classifier.audibility_data` on a machine that reaches GitHub (it fetches "
            f"{SOURCE_REPOSITORY}, folder audibility-dataset/, at commit {SOURCE_COMMIT[:12]})")


def fetched_folder() -> Path:
    from cgcap.models.store import cache_dir

    return cache_dir() / "data" / "audibility"


def candidate_folders() -> list[Path]:
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV]).expanduser()]
    repository = Path(__file__).resolve().parents[2]
    return [repository.parent / "shared" / "data" / "audibility", Path.cwd().parent / "shared" / "data" / "audibility",
            fetched_folder()]


def _first_file(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / name for name in names if (folder / name).is_file()), None)


def find(folders: list[Path] | None = None) -> tuple[Path, Path] | None:
    """(positives, negatives) from the first folder that holds both, or None."""
    for folder in candidate_folders() if folders is None else folders:
        positives, negatives = _first_file(folder, POSITIVE_NAMES), _first_file(folder, NEGATIVE_NAMES)
        if positives and negatives:
            return positives, negatives
    return None


def _check_sentences(name: str, content: bytes) -> None:
    try:
        lines = [line for line in content.decode("utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise AudibilityDataError(f"{name} from {SOURCE_REPOSITORY} is not UTF-8 text") from None
    if len(lines) < MIN_SENTENCES:
        raise AudibilityDataError(f"{name} holds {len(lines)} sentences; the public file holds thousands")


def fetch(target: Path | None = None, base_url: str = SOURCE_URL,
          checksums: dict[str, str | None] | None = None, timeout: float = 60.0) -> tuple[Path, Path]:
    """Download the files into ``target`` (whole or not at all), checking each one's SHA-256 where pinned."""
    target = target or fetched_folder()
    checksums = SOURCE_FILES if checksums is None else checksums
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    seen = {}
    try:
        for name, expected in checksums.items():
            url = f"{base_url.rstrip('/')}/{name}"
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - fixed https URL
                    content = response.read()
            except OSError as error:
                raise AudibilityDataError(f"cannot download {url}: {error}") from None
            seen[name] = hashlib.sha256(content).hexdigest()
            if expected is not None and seen[name] != expected:
                raise AudibilityDataError(f"{url} has SHA-256 {seen[name]}, not the pinned {expected}")
            _check_sentences(name, content)
            (partial / name).write_bytes(content)
        (partial / "SHA256SUMS").write_text("".join(f"{digest}  {name}\n" for name, digest in seen.items()))
        (partial / "SOURCE").write_text(f"{base_url}\n")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    if any(expected is None for expected in checksums.values()):
        log.warning("audibility sentences fetched without a pinned checksum; their SHA-256: %s", seen)
    found = find([target])
    assert found is not None  # both files were just written
    return found


def ensure(folders: list[Path] | None = None, **fetch_options) -> tuple[Path, Path]:
    """The sentences from wherever they are, fetched into the cache first if they are nowhere."""
    found = find(folders)
    if found is not None:
        return found
    try:
        return fetch(**fetch_options)
    except AudibilityDataError as error:
        raise AudibilityDataError(f"no audibility sentences found, and {error}; {how_to_get()}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="find the audibility sentences, or fetch them once")
    parser.add_argument("--base-url", default=SOURCE_URL, help="where audible.txt and notAudible.txt are served")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        positives, negatives = ensure(base_url=args.base_url)
    except AudibilityDataError as error:
        print(f"audibility data: {error}", file=sys.stderr)
        return 1
    print(f"audibility sentences: {positives} and {negatives}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
