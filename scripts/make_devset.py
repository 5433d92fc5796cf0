"""Builds the grounding dev set (benchmarks/devset/devset.yaml) as a folder dataset.

Real recordings and photos that install here: Debian's sound-theme-freedesktop clips
(the CC-BY-3.0 ones are vendored in benchmarks/devset/media; the rest are fetched with
`apt-get download sound-theme-freedesktop` unless the package is installed), speech
synthesised by espeak-ng (`apt-get install espeak-ng`) and photos from the
scikit-image wheel. Writes the media, captions.csv (references), content_words.json
(the words that name each item's content) and ATTRIBUTION.md (sources and licences).

Usage: python3 scripts/make_devset.py [--output data/devset] [--only audio/bell.oga ...]
Then:  python3 benchmarks/grounding.py --data-root data/devset
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgcap.data.devset import DevSetBuildError, build_devset, load_manifest  # noqa: E402
from cgcap.data.datasets import DatasetError  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="data/devset", help="folder to write (default data/devset)")
    parser.add_argument("--manifest", default=str(ROOT / "benchmarks" / "devset" / "devset.yaml"))
    parser.add_argument("--vendored", default=str(ROOT / "benchmarks" / "devset" / "media"),
                        help="folder of vendored clips used before fetching")
    parser.add_argument("--only", nargs="+", metavar="FILE", help="build only these items (manifest file names)")
    args = parser.parse_args()
    try:
        items = build_devset(load_manifest(args.manifest), args.output, vendored=args.vendored, only=args.only)
    except (DevSetBuildError, DatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = {m: sum(item.modality == m for item in items) for m in ("audio", "image")}
    print(f"{args.output}: {counts['audio']} audio and {counts['image']} image items")
    return 0


if __name__ == "__main__":
    sys.exit(main())
