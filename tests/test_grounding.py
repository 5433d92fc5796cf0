"""Grounding metrics on captions with known answers, the dev-set builder, and the grounding
benchmark end to end on the tiny profile with real clips and photos of the dev set."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from cgcap.data.datasets import DatasetError, read_dataset
from cgcap.data.devset import CONTENT_WORDS, DevSetBuildError, build_devset, load_manifest, read_content_words
from cgcap.decoding.result import Beam, CaptionResult
from cgcap.metrics.grounding import count_real_words, ends_on_own, names_content, real_word_share

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "benchmarks" / "devset" / "devset.yaml"
VENDORED = ROOT / "benchmarks" / "devset" / "media"
AUDIO, IMAGE = "Audio of a", "Image of a"
# A vendored clip, a photo of the scikit-image wheel and espeak-ng speech: one item per kind of source.
SUBSET = ["audio/bell.oga", "image/chelsea.png", "audio/speech-door.wav", "image/astronaut.png"]


@pytest.mark.parametrize("caption, words, prompt", [
    ("Audio of a bell ringing.", ["bell"], AUDIO),
    ("Audio of a phone ringing in a room", ["ring"], AUDIO),  # -ing
    ("Audio of two bells chiming", ["chime"], AUDIO),  # plural, -ing with a dropped e
    ("Image of a cat's face", ["cat"], IMAGE),  # possessive
    ("Image of distant galaxies.", ["galaxy"], IMAGE),  # -ies
    ("Audio of a crumpled sheet", ["crumpling"], AUDIO),  # two inflections of one word
    ("Audio of a snapped twig", ["snap"], AUDIO),  # doubled consonant
    ("Audio of an alarm clock going off", ["alarm clock"], AUDIO),  # several words in order
    ("Image of a CAT.", ["cat"], IMAGE),
])
def test_a_caption_naming_a_listed_word_in_any_inflection_is_a_hit(caption, words, prompt):
    assert names_content(caption, words, prompt)


@pytest.mark.parametrize("caption, words, prompt", [
    ("Audio of a belly dance", ["bell"], AUDIO),  # a longer word is not the word
    ("Audio of abell", ["bell"], AUDIO),  # glued onto the prompt: the decoder wrote "abell"
    ("Audio of a classic novel's voice", ["bell"], AUDIO),
    ("Audio of a clock alarm", ["alarm clock"], AUDIO),  # the words, but not in that order
    ("Audio of a dog barking", ["audio"], AUDIO),  # the prompt's words are not the caption's
    ("Image of a scattered trial", ["cat"], IMAGE),
])
def test_a_caption_without_a_listed_word_is_a_miss(caption, words, prompt):
    assert not names_content(caption, words, prompt)


def test_invented_words_are_not_real_words():
    # Words the offline decoder once invented: "iztera" and "drumsá" are not English.
    assert count_real_words("Audio of a classic novel's voice during the iztera, it", AUDIO) == (6, 7)
    assert real_word_share("Audio of a drumsá PheuSabra.", AUDIO) == 0.0
    assert real_word_share("Audio of a bell rings three times.", AUDIO) == 1.0
    assert real_word_share("Image of crinkling glockenspiel dewdrops", IMAGE) == 1.0  # rare but real
    assert real_word_share(AUDIO, AUDIO) is None  # nothing written, no share


def _result(beams: list[tuple[str, bool]]) -> CaptionResult:
    found = [Beam(text=text, lm_score=-1.0, finished=finished) for text, finished in beams]
    return CaptionResult(prompt=AUDIO, caption=found[0].text, beams=found)


def test_ends_on_own_is_whether_the_chosen_caption_wrote_the_end_token():
    assert ends_on_own(_result([("Audio of a bell.", True), ("Audio of a bell rings and", False)]))
    assert not ends_on_own(_result([("Audio of a bell rings and", False), ("Audio of a bell.", True)]))
    # The caption is whichever beam the decoder chose, not necessarily the first listed.
    chosen = _result([("Audio of a bell rings and", False), ("Audio of a bell.", True)])
    chosen.caption = "Audio of a bell."
    assert ends_on_own(chosen)


def test_cider_alone_equals_pycocoevalcaps_cider_and_skips_the_other_metrics():
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    from cgcap.metrics.coco import coco_caption_metrics

    candidates = {"a": "a bell rings", "b": "a cat sits on a mat"}
    references = {"a": ["a bell rings twice", "a church bell"], "b": ["a cat on a mat", "a tabby cat sits"]}
    alone = coco_caption_metrics(candidates, references, only=("CIDEr-D",))
    tokenizer = PTBTokenizer()
    gts = tokenizer.tokenize({k: [{"caption": c} for c in v] for k, v in references.items()})
    res = tokenizer.tokenize({k: [{"caption": c}] for k, c in candidates.items()})
    corpus, per_item = Cider().compute_score(gts, res)
    assert set(alone.corpus) == {"CIDEr-D"} and not alone.unavailable
    assert alone.corpus["CIDEr-D"] == pytest.approx(float(corpus))
    assert [alone.per_item[k]["CIDEr-D"] for k in gts] == pytest.approx(list(per_item))


@pytest.fixture(scope="module")
def devset(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("devset")
    build_devset(load_manifest(MANIFEST), folder, vendored=VENDORED, only=SUBSET)
    return folder


def test_the_built_dev_set_is_a_folder_dataset_with_references_and_word_lists(devset):
    from cgcap.config import LimitSettings
    from cgcap.data.media import decode_media

    manifest = {item.file: item for item in load_manifest(MANIFEST).items}
    dataset = read_dataset("folder", devset)
    assert sorted(item.id for item in dataset.items) == sorted(SUBSET)
    words = read_content_words(devset)
    for item in dataset.items:
        assert not item.missing
        assert item.references == manifest[item.id].references
        assert words[item.id] == manifest[item.id].words
        media = decode_media(item.media_path, LimitSettings())
        assert media.modality == manifest[item.id].modality
    speech = decode_media(devset / "audio" / "speech-door.wav", LimitSettings())
    assert speech.duration_seconds > 1.5  # espeak-ng said the whole sentence
    assert "CC-BY-3.0" in (devset / "ATTRIBUTION.md").read_text()


def test_the_builder_names_a_source_it_cannot_find(tmp_path):
    manifest = load_manifest(MANIFEST).model_copy(deep=True)
    manifest.items[0].source = "skimage:no_such_photo.png"
    with pytest.raises(DevSetBuildError, match="no_such_photo.png is not inside the installed scikit-image"):
        build_devset(manifest, tmp_path, only=[manifest.items[0].file])
    with pytest.raises(DatasetError, match="not in the dev-set manifest: audio/nothing.wav"):
        build_devset(manifest, tmp_path, only=["audio/nothing.wav"])
    with pytest.raises(DatasetError, match=CONTENT_WORDS):
        read_content_words(tmp_path / "empty")


def _table_rows(text: str) -> list[list[str]]:
    """The per-caption table's rows: twelve columns split on runs of spaces, then the caption and the
    well-formedness judge's reasons, if any, in brackets."""
    rows = []
    for line in text.splitlines():
        if line.startswith(("audio/", "image/")):
            cells = re.split(r"\s{2,}", line, maxsplit=12)
            caption, _, reasons = cells[-1].partition("   [")
            rows.append(cells[:-1] + [caption, reasons.removesuffix("]")])
    return rows


def test_the_benchmark_table_carries_each_captions_computed_figures(devset, tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import grounding as benchmark

    from cgcap.classifier import TextClassifier
    from cgcap.metrics.fluency import mean_log_probability
    from cgcap.metrics.wellformed import judge as judge_form
    from cgcap.models import load

    args = ["--profile", "tiny", "--data-root", str(devset), "--ids", "audio/bell.oga,image/chelsea.png",
            "--set", "decoding.max_tokens=2", "--output", str(tmp_path / "run")]
    assert benchmark.main(args) == 0
    printed = capsys.readouterr()
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    rows = {(row["id"], row["variant"]): row for row in report["rows"]}
    assert set(rows) == {(i, v) for i in ("audio/bell.oga", "image/chelsea.png") for v in ("lambda_mod=0", "default")}
    assert {row["lambda_modality"] for row in rows.values()} == {0.0, 1.0}  # the tiny profile's default λ_mod

    words = read_content_words(devset)
    judge = TextClassifier.load("tiny:bert-classifier")
    table = _table_rows(printed.out)
    assert len(table) == 4
    lm = load("tiny:gpt2")
    for (item, variant, hit, tagger_hit, bertscore, cider, real, wellformed, logprob, ends, classifier, seconds, caption,
         reasons) in table:
        row = rows[(item, variant)]
        prompt = AUDIO if item.startswith("audio") else IMAGE
        assert caption == row["caption"] and caption.startswith(prompt)
        assert hit == ("yes" if names_content(caption, words[item], prompt) else "no")
        assert tagger_hit == "-"  # the tiny profile's random CLAP and CLIP offer no words of their own
        real_words, total = count_real_words(caption, prompt)
        assert real == ("-" if total == 0 else f"{real_words / total:.2f}")
        verdict = judge_form(caption, prompt)
        assert wellformed == ("yes" if verdict.ok else "no") and reasons == "; ".join(verdict.reasons)
        assert row["wellformed_reasons"] == verdict.reasons
        expected = mean_log_probability(lm, caption, prompt)
        assert logprob == ("-" if expected is None else f"{expected:.2f}")
        assert float(classifier) == pytest.approx(float(judge.score([caption])[0]), abs=0.006)
        assert float(bertscore) == pytest.approx(row["bertscore_f1"], abs=0.006)
        assert float(cider) == pytest.approx(row["cider"], abs=0.006)
        assert ends == ("yes" if row["ends_on_own"] else "no")
        assert not row["ends_on_own"] or caption.endswith(".")
        assert float(seconds) > 0

    # The items' reference captions that begin with "A"/"An", after the prompt: the yardstick for log-prob.
    from cgcap.data.datasets import read_dataset
    from cgcap.metrics.fluency import mean_log_probabilities, references_after_prompt

    items = {item.id: item for item in read_dataset("folder", devset).items}
    for modality, item, prompt in (("audio", "audio/bell.oga", AUDIO), ("image", "image/chelsea.png", IMAGE)):
        texts = references_after_prompt(items[item].references, prompt)
        scores = mean_log_probabilities(lm, [(text, prompt) for text in texts])
        (figure,) = [entry for entry in report["references"] if entry["modality"] == modality]
        assert figure["references"] == len(texts) > 0
        assert figure["lm_logprob"] == pytest.approx(sum(scores) / len(scores), abs=1e-4)
        assert f"the {modality} references that begin with A or An, written after the prompt: log-prob " \
               f"{figure['lm_logprob']:.2f} ({len(texts)} captions)" in printed.out

    # A rerun with the same settings resumes both variants' evaluations: it captions nothing again.
    assert benchmark.main(args + ["--json"]) == 0
    again = capsys.readouterr()
    assert again.err.count("resumed 2 caption(s)") == 2
    assert json.loads(again.out)["rows"] == report["rows"]

    # The default alone, against the λ_mod = 0 captions of the first report, gives the same comparison.
    alone = ["--default-only", "--lambda-zero-from", str(tmp_path / "run" / "report.json"), "--json"]
    assert benchmark.main(args + alone) == 0
    joined = json.loads(capsys.readouterr().out)
    assert _by_key(joined["rows"], "id") == _by_key(report["rows"], "id")
    assert _by_key(joined["summary"], "modality") == _by_key(report["summary"], "modality")
    default = _by_key(report["summary"], "modality")[("default", "all")]
    pairs = [(rows[(item, "default")]["lm_logprob"], rows[(item, "lambda_mod=0")]["lm_logprob"])
             for item in ("audio/bell.oga", "image/chelsea.png")]
    gaps = [steered - plain for steered, plain in pairs if steered is not None and plain is not None]
    assert default["lm_logprob_vs_lambda_zero"] == (pytest.approx(sum(gaps) / len(gaps)) if gaps else None)


def _by_key(entries: list[dict], name: str) -> dict[tuple[str, str], dict]:
    return {(entry["variant"], entry[name]): entry for entry in entries}


@pytest.mark.slow  # runs the real taggers over the dev set
def test_the_tagger_ceiling_says_whether_the_taggers_own_words_name_the_content(devset):
    # ImageNet-1k has no astronaut, space suit or shuttle-crew class: no caption steered by its
    # class names can be expected to say "astronaut", and the report must tell that apart
    # from a decoder that ignores a tagger which did name the cat.
    from cgcap.config import LimitSettings
    from cgcap.data.media import decode_media
    from cgcap.encoders import load_encoder
    from cgcap.encoders.input_scoring import input_scorer
    from cgcap.evaluation.predictions import Prediction
    from cgcap.evaluation.scoring import caption_figures

    encoders = {"image": load_encoder("efficientnet-lite2-minilm"), "audio": load_encoder("yamnet-minilm")}
    manifest = read_dataset("folder", devset)
    predictions = {}
    for item in manifest.items:
        # The words the actor records with each prediction: those its input's scorer offers the decoder.
        words = input_scorer(decode_media(item.media_path, LimitSettings()), encoders).content_words
        predictions[item.id] = Prediction(id=item.id, prompt=AUDIO, caption="thing.", input_words=" ".join(words))
    figures = caption_figures(manifest, predictions).per_item
    tagger_hit = {key: values["tagger_hit"] for key, values in figures.items()}
    assert tagger_hit["image/chelsea.png"] == 1.0  # Egyptian cat, tiger cat, tabby
    assert tagger_hit["image/astronaut.png"] == 0.0  # bobsled, barbell, ski, ...
    assert tagger_hit["audio/speech-door.wav"] == 1.0  # Speech
