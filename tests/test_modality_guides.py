"""A classifier per modality: audio and text-only follow the audio rule, images and frame-guided
videos the image rule; λ1 = 0 for a modality loads no classifier for it; results record the guide."""

from __future__ import annotations

from importlib.resources import files

import pytest

from cgcap.captioner import Captioner
from cgcap.config import load_settings
from cgcap.decoding.plan import classifier_specs, classifiers_in_use, guide_for
from decoding_scorers import LetterShareScorer, RecordingScorer

PER_MODALITY = ["models.classifier=tiny:bert-classifier", "models.image_classifier=tiny:bert-classifier@7",
                "decoding.wanted_label=1", "decoding.image_wanted_label=0", "decoding.image_lambda_cls=0.9",
                "decoding.max_tokens=3"]


@pytest.mark.parametrize(("guiding", "rule", "spec", "label", "weight"), [
    (["audio"], "audio", "tiny:bert-classifier", 1, 0.6),
    ([], "audio", "tiny:bert-classifier", 1, 0.6),  # text-only
    (["image"], "image", "tiny:bert-classifier@7", 0, 0.9),
    (["image", "audio"], "image", "tiny:bert-classifier@7", 0, 0.9),  # a video guided by frames and sound
])
def test_each_modality_gets_its_own_classifier_label_and_weight(guiding, rule, spec, label, weight):
    settings = load_settings("tiny", overrides=PER_MODALITY)
    decoding, guide = guide_for(settings.decoding, classifier_specs(settings.models), guiding)
    assert (guide.rule, guide.classifier, guide.wanted_label, guide.weight) == (rule, spec, label, weight)
    assert (decoding.wanted_label, decoding.lambda_cls) == (label, weight)
    assert decoding.prompt == ("Image of a" if rule == "image" else "Audio of a")


def test_unset_image_keys_fall_back_to_the_audio_ones_and_a_request_may_choose_its_own():
    settings = load_settings("tiny")
    _, guide = guide_for(settings.decoding, classifier_specs(settings.models), ["image"])
    assert (guide.classifier, guide.wanted_label, guide.weight) == ("tiny:bert-classifier", 1, 0.6)
    _, chosen = guide_for(settings.decoding, classifier_specs(settings.models), ["image"], chosen="models:/x@champion")
    assert chosen.classifier == "models:/x@champion"


def test_a_modality_at_lambda1_zero_has_no_guide_and_is_not_in_use():
    settings = load_settings("tiny", overrides=PER_MODALITY + ["decoding.image_lambda_cls=0"])
    specs = classifier_specs(settings.models)
    assert guide_for(settings.decoding, specs, ["image"])[1] is None
    assert guide_for(settings.decoding, specs, ["audio"])[1] is not None
    assert classifiers_in_use(settings.decoding, settings.models) == {"audio": "tiny:bert-classifier"}


@pytest.fixture(scope="module")
def tiny() -> Captioner:
    return Captioner.from_settings(load_settings("tiny"))


@pytest.fixture(scope="module")
def samples():
    folder = files("cgcap") / "samples"
    return {name: (folder / name).read_bytes() for name in ("bell.flac", "chelsea.jpg", "cat_bell.mp4")}


def captioner_with(tiny: Captioner, overrides: list[str], loader) -> Captioner:
    return Captioner(load_settings("tiny", overrides=overrides), tiny.lm, encoders=tiny.encoders,
                     classifier_loader=loader)


@pytest.mark.parametrize(("sample", "video_mode", "expected"), [
    ("bell.flac", "both", "audio"), ("chelsea.jpg", "both", "image"),
    ("cat_bell.mp4", "both", "image"), ("cat_bell.mp4", "image", "image"), ("cat_bell.mp4", "audio", "audio"),
])
def test_the_captioner_steers_each_input_with_its_modalitys_classifier(tiny, samples, sample, video_mode, expected):
    # Two scorers with known, different preferences: the result's score says which one steered, and to which label.
    scorers = {"tiny:bert-classifier": RecordingScorer(LetterShareScorer("aeiou")),
               "tiny:bert-classifier@7": RecordingScorer(LetterShareScorer("rstln"))}
    loaded: list[str] = []

    def loader(spec):
        loaded.append(spec)
        return scorers[spec]

    captioner = captioner_with(tiny, PER_MODALITY + [f"media.video_mode={video_mode}"], loader)
    result = captioner.caption(samples[sample], filename=sample)

    spec = "tiny:bert-classifier@7" if expected == "image" else "tiny:bert-classifier"
    label = 0 if expected == "image" else 1
    assert loaded == [spec]
    assert result.guide.model_dump() == {"rule": expected, "classifier": spec, "wanted_label": label,
                                         "weight": 0.9 if expected == "image" else 0.6}
    assert result.model_ids["classifier"] == spec and result.settings["decoding"]["wanted_label"] == label
    p_label_1 = float(scorers[spec].scorer.score([result.caption])[0])
    assert result.beams[0].classifier_score == pytest.approx(p_label_1 if label == 1 else 1 - p_label_1)
    other = next(s for name, s in scorers.items() if name != spec)
    assert other.calls == []


def test_no_classifier_is_loaded_for_a_modality_at_lambda1_zero(tiny, samples):
    def failing_loader(spec):
        raise AssertionError(f"loaded {spec}")

    captioner = captioner_with(tiny, PER_MODALITY + ["decoding.image_lambda_cls=0"], failing_loader)
    image = captioner.caption(samples["chelsea.jpg"], filename="chelsea.jpg")
    video = captioner.caption(samples["cat_bell.mp4"], filename="cat_bell.mp4")  # frames guide: image rule
    for result in (image, video):
        assert result.guide is None and "classifier" not in result.model_ids
        assert result.beams[0].classifier_score is None
    with pytest.raises(AssertionError, match="loaded tiny:bert-classifier"):  # the audio rule still needs one
        captioner.caption(samples["bell.flac"], filename="bell.flac")


def test_an_evaluation_run_records_which_classifier_steered_each_modality():
    from cgcap.decoding.plan import ClassifierGuide
    from cgcap.evaluation.predictions import Prediction
    from cgcap.evaluation.recording import guide_params

    image = ClassifierGuide(rule="image", classifier="minilm-l6-audibility", wanted_label=0, weight=0.6)
    rows = [Prediction(id="a", caption="a cat", modality="image", guide=image.model_dump_json()),
            Prediction(id="b", caption="a bell", modality="audio", guide=None),
            Prediction(id="c", error="unreadable media: empty", modality="video")]
    assert guide_params(rows) == {"guide.image": "minilm-l6-audibility label 0 weight 0.6 (image rule)",
                                  "guide.audio": "none"}
