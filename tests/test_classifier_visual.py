"""``minilm-l6-visual``, the offline image classifier: the real head on the real MiniLM, through the model store."""

import pytest

from cgcap.classifier import visual
from cgcap.classifier.model import TextClassifier
from cgcap.config import load_settings
from cgcap.decoding.plan import classifier_specs, guide_for

SIGHTS = ["A red bicycle leans against a white wall.", "Two children build a sandcastle on the beach.",
          "A tabby cat sleeps on a blue sofa.", "Snow covers the roofs of a small village."]
NOT_SIGHTS = ["The shrill ringing of an alarm clock.", "A dog barks in the distance.",
              "The sour smell of burnt toast.", "The hope that tomorrow will be better."]


@pytest.fixture(scope="module")
def classifier(audibility_files) -> TextClassifier:
    return TextClassifier.load(visual.SPEC)  # trained on first load (seconds), then read from the cache


def test_it_loads_by_its_spec_with_the_image_prompt_as_its_training_prefix(classifier):
    assert classifier.spec == "minilm-l6-visual"
    assert classifier.prefix == "Image of a "
    assert classifier.metadata.test_metrics["accuracy"] > 0.85  # held out from its training


def test_it_ranks_every_sight_above_every_sound_smell_and_idea(classifier):
    sights = classifier.score([classifier.prefix + text for text in SIGHTS])
    others = classifier.score([classifier.prefix + text for text in NOT_SIGHTS])
    assert sights.min() > 0.5 > others.max()


def test_the_shipped_sentences_hold_both_classes_and_none_in_both():
    positives = set(visual.POSITIVES.read_text().splitlines())
    negatives = set(visual.NEGATIVES.read_text().splitlines())
    assert len(positives) >= 150 and len(negatives) >= 150
    assert not positives & negatives


@pytest.mark.parametrize(("guiding", "spec"), [
    (["audio"], "minilm-l6-audibility"),
    (["image"], "minilm-l6-visual"),
    (["image", "audio"], "minilm-l6-visual"),  # a video guided by its frames and its sound: the image rule
    (["audio", "image"], "minilm-l6-visual"),
])
def test_the_offline_profile_steers_images_with_it_and_audio_with_the_audibility_classifier(guiding, spec):
    settings = load_settings("offline")
    _, guide = guide_for(settings.decoding, classifier_specs(settings.models), guiding)
    assert (guide.classifier, guide.wanted_label) == (spec, 1)
