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

Each variant is an evaluation of the dataset (``cgcap.evaluation.grounding``: the same reader,
actor and metrics as ``cgcap evaluate --dataset folder``), run in this process. With
``--output DIR`` each keeps its predictions in ``DIR/evaluations/VARIANT-DIGEST``, the digest
naming its captioning settings, the data and cgcap's code, so rerunning the same command
captions only what changed and scores everything again; ``DIR/report.json`` holds the last
report. Unless ``evaluation.decode_batch`` is set, inputs are decoded one at a time.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager, redirect_stdout
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
    parser.add_argument("--output", help="folder for the variants' evaluations (a rerun resumes them) and report.json")
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
            + f"; classifier: mean P(wanted label) by {report.judge}"
            + "".join(f"\nthe {r.modality} references that begin with A or An, written after the prompt: log-prob "
                      f"{r.lm_logprob:.2f} ({r.references} captions)" for r in report.references))


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


def one_caption_at_a_time(settings):
    """Unless ``evaluation.decode_batch`` is set, each input is decoded alone and written as it lands: s/caption
    is then one caption's own time, as the tables in docs/RESULTS.md measured it."""
    if settings.evaluation.decode_batch is not None:
        return settings
    alone = settings.evaluation.model_copy(update={"decode_batch": 1, "batch_size": 1})
    return settings.model_copy(update={"evaluation": alone})


def load_models(captioner, modalities: set[str | None], variants: dict) -> None:
    """Loads the encoders and classifiers these captions will use, so that no caption's seconds include loading."""
    from cgcap.decoding.plan import classifiers_in_use

    needed = {"audio", "image"} if "video" in modalities else modalities & {"audio", "image"}
    for modality in sorted(needed):
        captioner.encoders[modality]  # noqa: B018 - lazy: loaded on first access
    for options in variants.values():
        settings = captioner.settings_for(options)
        for spec in classifiers_in_use(settings.decoding, settings.models).values():
            captioner.classifier_for(spec)


@contextmanager
def output_folder(output: str | None):
    """``--output``, or a folder that lasts this run alone."""
    if output:
        yield Path(output)
        return
    with tempfile.TemporaryDirectory(prefix="grounding-") as folder:
        yield Path(folder)


def read_arguments(args: argparse.Namespace):
    """The settings, the items, the variants and the earlier λ_mod = 0 rows the arguments ask for; a bad
    setting, variant or item is refused here, before any model loads."""
    from cgcap.config import with_decoding
    from cgcap.evaluation.grounding import LAMBDA_ZERO_AND_DEFAULT, rows_of_variant, select_items
    from cgcap.evaluation.run import check_judge

    settings = one_caption_at_a_time(settings_from_args(args))
    check_judge(settings)
    ids = [key for key in args.ids.split(",") if key] if args.ids else None
    items = select_items(args.data_root, modality=args.modality, ids=ids, limit=args.limit)
    variants = {"default": {}} if args.default_only else dict(LAMBDA_ZERO_AND_DEFAULT)
    for text in args.variant:
        name, options = parse_variant(text)
        with_decoding(settings, **options)
        variants[name] = options
    lambda_zero_rows = rows_of_variant(args.lambda_zero_from) if args.lambda_zero_from else None
    return settings, items, variants, lambda_zero_rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from cgcap.captioner import Captioner
    from cgcap.config import SettingsError
    from cgcap.data.datasets import DatasetError
    from cgcap.evaluation.grounding import grounding_report
    from cgcap.evaluation.run import EvaluationError

    try:
        settings, items, variants, lambda_zero_rows = read_arguments(args)
    except (SettingsError, DatasetError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not items:
        print("error: no items selected", file=sys.stderr)
        return 2
    captioner = Captioner.from_settings(settings)
    load_models(captioner, {item.modality for item in items}, variants)
    try:
        # The evaluations print each caption as it lands; stdout is kept for the report.
        with output_folder(args.output) as output, redirect_stdout(sys.stderr):
            report = grounding_report(captioner, args.data_root, [item.id for item in items], output, variants,
                                      lambda_zero_rows)
    except EvaluationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.output:
        (Path(args.output) / "report.json").write_text(report.model_dump_json(indent=1) + "\n", encoding="utf-8")
    print(report.model_dump_json(indent=1) if args.json else describe(settings) + "\n\n" + format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
