"""Guidance works on the real packaged LM (SmolLM2-135M): a modality scorer's preference
shows up in the caption, and a larger λ1 makes captions the classifier likes better.

The classifier is the packaged MiniLM base fine-tuned briefly on the audibility sentences
with the classifier area's own trainer (a fixed number of steps, so its quality does not
depend on how busy the machine is)."""

from __future__ import annotations

import pytest

from cgcap.config import DecodingSettings
from cgcap.decoding import GuidedDecoder
from cgcap.models import load
from decoding_scorers import WordScorer

pytestmark = pytest.mark.slow  # trains a classifier, then decodes with SmolLM2

PROMPTS = ["Audio of a", "The sound of a", "I heard a", "Recording of a"]


@pytest.fixture(scope="module")
def smollm2():
    return load("smollm2-135m")


@pytest.fixture(scope="module")
def audibility_classifier(tmp_path_factory, audibility_files):
    """MiniLM fine-tuned for one short epoch on 300 audible and 300 not-audible sentences."""
    from cgcap.classifier import TextClassifier
    from cgcap.classifier.data import load_dataset
    from cgcap.classifier.training import TrainingSettings, train_classifier

    found = audibility_files
    folder = tmp_path_factory.mktemp("audibility")
    subsets = []
    for path, name in zip(found, ("audible.txt", "not_audible.txt")):
        lines = [line for line in path.read_text().splitlines() if line.strip()][:300]
        (folder / name).write_text("\n".join(lines) + "\n")
        subsets.append(folder / name)
    dataset = load_dataset(*subsets)
    settings = TrainingSettings(base="minilm-l6", epochs=1, batch_size=16, learning_rate=1e-4, device="cpu")
    trained = train_classifier(dataset, settings, folder / "model")
    assert trained.test.roc_auc > 0.8, f"the briefly trained classifier is too weak to test with: {trained.test}"
    return TextClassifier.load(str(folder / "model"))


def test_a_modality_scorer_that_rewards_a_word_makes_the_word_appear(smollm2):
    settings = DecodingSettings(top_k=64, num_iterations=3, max_tokens=4)
    decoder = GuidedDecoder(smollm2, settings)
    unguided = decoder.caption(None, None)
    assert "story" not in unguided.caption.lower()

    guided = decoder.caption(WordScorer("story"), None)
    assert "story" in guided.caption.lower().replace(".", " ").split()
    assert guided.beams[0].modality_score == 1.0


def test_raising_lambda_cls_raises_the_classifiers_mean_score(smollm2, audibility_classifier):
    def mean_score(lambda_cls: float) -> float:
        captions = []
        for prompt in PROMPTS:
            settings = DecodingSettings(prompt=prompt, top_k=64, num_iterations=3, max_tokens=6, lambda_cls=lambda_cls)
            captions.append(GuidedDecoder(smollm2, settings).caption(None, audibility_classifier).caption)
        return float(audibility_classifier.score(captions).mean())

    unguided, guided = mean_score(0.0), mean_score(1.0)
    assert guided > unguided + 0.1, (unguided, guided)
