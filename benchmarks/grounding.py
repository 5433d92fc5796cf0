"""Do captions name what is in the file? The dev set captioned at λ_mod = 0 and at the default.

Every item of a folder dataset with ``content_words.json`` (the dev set: build it with
``python3 scripts/make_devset.py --output data/devset``) is captioned with the same settings
with the modality term off (``lambda_mod=0``) and at the settings' own λ_mod
(``default``). Per caption and per variant and modality it prints: hit (a word of the
item's list after the prompt), BERTScore-F1 and CIDEr-D against the references, the
share of real words, whether the caption is well formed (``cgcap.metrics.wellformed``: no
stray symbols, repeated words, article disagreement, pile of nouns, dangling end, lower-case
name or needlessly rare word; the reasons follow each failing caption), its mean
log-probability per token under the unsteered LM ("log-prob"; "vs λ0": the mean gap to the
λ_mod = 0 caption of the same item), whether the caption ended on its own, the judge's
P(wanted label) (``models.judge_classifier``, else the guiding classifier) and seconds per
caption.

    python3 benchmarks/grounding.py                                   # offline profile, whole dev set
    python3 benchmarks/grounding.py --modality image --limit 3 --set decoding.top_k=256
    python3 benchmarks/grounding.py --output runs/grounding --json    # cached: a rerun skips what is done
    python3 benchmarks/grounding.py --default-only --lambda-zero-from runs/grounding/report.json

With ``--output DIR`` captions are cached in ``DIR/captions.jsonl`` under a key of the
item, the full settings and cgcap's code, so rerunning the same command only recomputes
the reference metrics; ``DIR/report.json`` holds the last report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cgcap.commands import add_settings_arguments, settings_from_args  # noqa: E402

ITEM_COLUMNS = ["item", "variant", "hit", "tagger hit", "BERTScore-F1", "CIDEr-D", "real words", "well-formed",
                "log-prob", "ends", "classifier", "s", "caption"]
SUMMARY_COLUMNS = ["variant", "modality", "captions", "hit", "tagger hit", "hit | tagger", "BERTScore-F1", "CIDEr-D",
                   "real words", "well-formed", "log-prob", "vs λ0", "ends", "classifier", "s/caption"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add_settings_arguments(parser)
    parser.add_argument("--data-root", default="data/devset", help="folder dataset with content_words.json")
    parser.add_argument("--modality", choices=["audio", "image", "video"], help="only items of this modality")
    parser.add_argument("--ids", help="comma-separated item ids (file names inside the folder)")
    parser.add_argument("--limit", type=int, help="the first N items (after --modality / --ids)")
    parser.add_argument("--default-only", action="store_true", help="skip the lambda_mod=0 variant")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE,...",
                        help="caption under these decoding keys too, e.g. 'k256:top_k=256,num_iterations=5' "
                             "(repeatable; same models, same settings)")
    parser.add_argument("--lambda-zero-from", metavar="REPORT",
                        help="an earlier report.json whose lambda_mod=0 captions join this report (judged and "
                             "scored by the LM again) for comparison, e.g. with --default-only")
    parser.add_argument("--no-fluency", action="store_true",
                        help="skip the per-caption log-probability under the unsteered LM")
    parser.add_argument("--output", help="folder for the caption cache and report.json")
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    return parser.parse_args(argv)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = []
    for row in cells:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1])
    return "\n".join(lines)


def format_report(report) -> str:
    items = [[r.id, r.variant, r.hit, r.tagger_hit, r.bertscore_f1, r.cider, r.real_word_share, r.wellformed,
              r.lm_logprob, r.ends_on_own, r.classifier_score, r.seconds, caption_cell(r)] for r in report.rows]
    summary = [[s.variant, s.modality, s.captions, s.hit_share, s.tagger_hit_share, s.hit_share_where_tagger_hits,
                s.bertscore_f1, s.cider, s.real_word_share, s.wellformed_share, s.lm_logprob,
                s.lm_logprob_vs_lambda_zero, s.ends_on_own_share, s.classifier_score,
                s.seconds_per_caption] for s in report.summary]
    return (_table(ITEM_COLUMNS, items) + "\n\n" + _table(SUMMARY_COLUMNS, summary)
            + "\n\nhit, real words, well-formed, ends: shares; tagger hit: the encoder's top class names name the "
              "content (the ceiling of hit); hit | tagger: hits among those items; log-prob: mean log-probability "
              "per caption token under the unsteered LM; vs λ0: its mean gap to the lambda_mod=0 caption of the "
              "same item"
            + f"; classifier: mean P(wanted label) by {report.judge}")


def caption_cell(row) -> str:
    if row.error is not None:
        return f"ERROR {row.error}"
    return row.caption + (f"   [{'; '.join(row.wellformed_reasons)}]" if row.wellformed_reasons else "")


def parse_variant(text: str) -> tuple[str, dict]:
    """``name:top_k=256,num_iterations=5`` -> ("name", {"top_k": 256, "num_iterations": 5}); values as YAML."""
    import yaml

    from cgcap.config import SettingsError

    name, _, body = text.partition(":")
    if not name or not body:
        raise SettingsError(f"--variant {text!r} must look like NAME:KEY=VALUE[,KEY=VALUE]")
    options = {}
    for pair in body.split(","):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"--variant {text!r}: {pair!r} is not KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return name, options


def describe(settings) -> str:
    d, m = settings.decoding, settings.models
    return (f"profile {settings.profile}: lm {m.language_model}, audio {m.audio_encoder}, image {m.image_encoder}, "
            f"classifier {m.classifier}; lambda_mod {d.lambda_modality}, lambda_cls {d.lambda_cls}, "
            f"top_k {d.top_k}, iterations {d.num_iterations}, max_tokens {d.max_tokens}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cgcap.captioner import Captioner
    from cgcap.config import SettingsError, with_decoding
    from cgcap.data.datasets import DatasetError
    from cgcap.evaluation.grounding import (LAMBDA_ZERO_AND_DEFAULT, CaptionCache, grounding_report,
                                            load_grounding_items, rows_of_variant)

    try:
        settings = settings_from_args(args)
        ids = [key for key in args.ids.split(",") if key] if args.ids else None
        items = load_grounding_items(args.data_root, modality=args.modality, ids=ids, limit=args.limit)
        variants = {"default": {}} if args.default_only else dict(LAMBDA_ZERO_AND_DEFAULT)
        for text in args.variant:
            name, options = parse_variant(text)
            with_decoding(settings, **options)  # refused here, before any model loads
            variants[name] = options
        lambda_zero_rows = rows_of_variant(args.lambda_zero_from) if args.lambda_zero_from else None
    except (SettingsError, DatasetError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not items:
        print("error: no items selected", file=sys.stderr)
        return 2
    cache = CaptionCache(Path(args.output) / "captions.jsonl") if args.output else None

    def progress(done: int, total: int, row, cached: bool) -> None:
        how = "cached" if cached else f"{row.seconds:.1f} s"
        text = row.caption if row.error is None else f"ERROR {row.error}"
        print(f"[{done}/{total}] {row.id} {row.variant} ({how}, hit={_cell(row.hit)}): {text}", file=sys.stderr,
              flush=True)

    captioner = Captioner.from_settings(settings)
    report = grounding_report(captioner, items, variants, cache=cache, progress=progress,
                              fluency=not args.no_fluency, lambda_zero_rows=lambda_zero_rows)
    if args.output:
        (Path(args.output) / "report.json").write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    print(report.model_dump_json(indent=1) if args.json else describe(settings) + "\n\n" + format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
