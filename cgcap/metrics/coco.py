"""BLEU-1..4, METEOR, ROUGE-L, CIDEr-D and (with CoreNLP) SPICE / SPIDEr, all by pycocoevalcap.

Captions and references go through pycocoevalcap's PTB tokenizer (Java), exactly as
the COCO caption server does, so figures compare with published ones.

CIDEr-D: pycocoevalcap 1.2 ships one CIDEr class, ``Cider``. It is the coco-caption
implementation, which is the CIDEr-D formula of Vedantam et al. (clipped n-gram
counts, Gaussian length penalty with sigma 6, x10, idf from the evaluated
references). We report it as ``CIDEr-D``; there is no separate ``CiderD`` class in 1.2.
"""

from __future__ import annotations

import shutil
from collections.abc import Collection
from pathlib import Path

from cgcap.metrics.report import MetricReport

BLEU = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"]


def spice_unavailable_reason() -> str | None:
    """None when SPICE can run here: Java plus Stanford CoreNLP 3.6.0 beside pycocoevalcap's SPICE jar."""
    if shutil.which("java") is None:
        return "java is not on PATH"
    import pycocoevalcap.spice.spice as spice_module

    lib = Path(spice_module.__file__).parent / "lib"
    needed = ["stanford-corenlp-3.6.0.jar", "stanford-corenlp-3.6.0-models.jar"]
    missing = [name for name in needed if not (lib / name).is_file()]
    if missing:
        return (f"SPICE needs Stanford CoreNLP 3.6.0 ({', '.join(missing)}) in {lib}; "
                "run `python -m pycocoevalcap.spice.get_stanford_models` where the download is reachable")
    return None


def start_meteor():
    """METEOR's Java program, started now: it spends seconds loading its tables, which an evaluation lets it
    do while the captions are written. None without Java."""
    if shutil.which("java") is None:
        return None
    from pycocoevalcap.meteor.meteor import Meteor

    return Meteor()


def stop_meteor(meteor) -> None:
    """End its Java program now rather than at exit (pycocoevalcap's ``__del__`` does the same, and may run again)."""
    meteor.meteor_p.stdin.close()
    meteor.meteor_p.kill()
    meteor.meteor_p.wait()


def coco_caption_metrics(candidates: dict[str, str], references: dict[str, list[str]],
                         only: Collection[str] | None = None, meteor=None) -> MetricReport:
    """Score ``candidates`` (id -> caption) against ``references`` (id -> captions) on the ids they share.

    ``only`` names the metrics wanted (e.g. ``("CIDEr-D",)``): METEOR and SPICE start Java
    programs of their own, which a benchmark rerun many times can skip. ``meteor``: one from
    ``start_meteor``, used and then stopped.
    """
    try:
        return _coco_caption_metrics(candidates, references, only, meteor)
    finally:
        if meteor is not None:
            stop_meteor(meteor)


def _coco_caption_metrics(candidates, references, only, meteor) -> MetricReport:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    ids = [key for key in candidates if references.get(key)]
    names = [name for name in BLEU + ["METEOR", "ROUGE-L", "CIDEr-D", "SPICE", "SPIDEr"]
             if only is None or name in only]
    if not ids:
        return MetricReport(unavailable={name: "no item has both a caption and reference captions" for name in names})
    if shutil.which("java") is None:
        return MetricReport(unavailable={name: "java is not on PATH (pycocoevalcap runs Java)" for name in names})

    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({key: [{"caption": text} for text in references[key]] for key in ids})
    res = tokenizer.tokenize({key: [{"caption": candidates[key]}] for key in ids})

    report = MetricReport(per_item={key: {} for key in ids})

    def record(name: str, corpus: float, per_item) -> None:
        report.corpus[name] = float(corpus)
        for key, value in zip(ids, per_item):
            report.per_item[key][name] = float(value)

    if set(BLEU) & set(names):
        bleu, bleu_items = Bleu(4).compute_score(gts, res, verbose=0)
        for name, corpus, items in zip(BLEU, bleu, bleu_items):
            if name in names:
                record(name, corpus, items)
    if "METEOR" in names:
        own = meteor is None
        meteor = meteor if meteor is not None else Meteor()
        record("METEOR", *meteor.compute_score(gts, res))
        if own:
            stop_meteor(meteor)
    if "ROUGE-L" in names:
        record("ROUGE-L", *Rouge().compute_score(gts, res))
    if "CIDEr-D" in names or "SPIDEr" in names:
        record("CIDEr-D", *Cider().compute_score(gts, res))

    if not {"SPICE", "SPIDEr"} & set(names):
        return report
    reason = spice_unavailable_reason()
    if reason is None:
        from pycocoevalcap.spice.spice import Spice

        spice, spice_items = Spice().compute_score(gts, res)
        record("SPICE", spice, [item["All"]["f"] for item in spice_items])
        # SPIDEr (Liu et al. 2017): the mean of CIDEr-D and SPICE.
        record("SPIDEr", (report.corpus["CIDEr-D"] + spice) / 2,
               [(report.per_item[key]["CIDEr-D"] + report.per_item[key]["SPICE"]) / 2 for key in ids])
    else:
        report.unavailable["SPICE"] = reason
        report.unavailable["SPIDEr"] = "SPIDEr needs SPICE: " + reason
    return report
