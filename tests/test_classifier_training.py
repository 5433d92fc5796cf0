"""Fine-tuning the guidance classifier and scoring with it.

The learning claim uses the real packaged MiniLM on a small slice of the reference
audibility sentences (read in place); plumbing (early stopping, time limit) uses the
tiny random BERT, whose validation ROC-AUC cannot improve at a near-zero learning rate.
"""

from pathlib import Path

import pytest
import torch

from cgcap.classifier.data import SplitSettings, load_dataset
from cgcap.classifier.evaluation import classification_metrics, evaluate
from cgcap.classifier.model import TextClassifier
from cgcap.classifier.training import TrainingSettings, train_classifier
from cgcap.models import ModelNotFoundError

pytestmark = pytest.mark.slow  # fine-tunes classifiers

PREFIX = "Audio of a "


def reference_slice(folder: Path, per_class: int, sources: tuple[Path, Path]) -> tuple[Path, Path]:
    """The first sentences of each reference file (they are in random order), as two files."""
    paths = []
    for name, source in zip(("audible.txt", "not_audible.txt"), sources):
        lines = [line for line in source.read_text(encoding="utf-8").splitlines() if line.strip()][:per_class]
        path = folder / name
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths[0], paths[1]


@pytest.fixture(scope="module")
def small_reference(tmp_path_factory, audibility_files):
    folder = tmp_path_factory.mktemp("audibility")
    return load_dataset(*reference_slice(folder, 200, audibility_files), split_settings=SplitSettings(seed=0))


@pytest.fixture(scope="module")
def trained_minilm(small_reference, tmp_path_factory):
    folder = tmp_path_factory.mktemp("trained") / "classifier"
    settings = TrainingSettings(base="minilm-l6", prefix=PREFIX, epochs=2, batch_size=16, learning_rate=1e-4)
    return train_classifier(small_reference, settings, folder)


def test_fine_tuned_minilm_tells_audible_from_not_audible_sentences(trained_minilm, small_reference):
    untrained = evaluate(TextClassifier.load("minilm-l6"), small_reference.test, prefix=PREFIX)
    assert trained_minilm.test.n == 40
    assert trained_minilm.test.accuracy >= 0.85
    assert trained_minilm.test.roc_auc >= 0.9
    assert trained_minilm.test.roc_auc > untrained.roc_auc + 0.15
    assert [record.epoch for record in trained_minilm.history] == [1.0, 2.0]  # validated every epoch


def test_trained_folder_holds_safetensors_and_no_pickles_and_reloads_to_the_same_scores(trained_minilm, small_reference):
    folder = trained_minilm.folder
    names = {path.name for path in folder.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "cgcap_classifier.json"} <= names
    assert not [name for name in names if name.endswith((".bin", ".pkl", ".pt", ".pth"))]
    reloaded = TextClassifier.load(str(folder))
    assert reloaded.metadata.prefix == PREFIX
    assert reloaded.metadata.dataset_hash == small_reference.dataset_hash
    assert reloaded.metadata.test_metrics["accuracy"] == pytest.approx(trained_minilm.test.accuracy)
    texts = ["Audio of a dog barking loudly.", "Audio of a framed photograph on a wall."]
    scores = reloaded.score(texts)
    assert scores[0] > 0.5 > scores[1]
    assert evaluate(reloaded, small_reference.test) == trained_minilm.test


def test_evaluation_applies_the_prefix_the_model_was_trained_with(trained_minilm, small_reference):
    classifier = TextClassifier.load(str(trained_minilm.folder))
    by_default = evaluate(classifier, small_reference.test)
    explicit = evaluate(classifier, small_reference.test.with_prefix(PREFIX), prefix="")
    assert by_default == explicit


def test_score_is_softmax_probability_of_label_one_and_batching_does_not_change_it(trained_minilm):
    classifier = TextClassifier.load(str(trained_minilm.folder), batch_size=2)
    texts = ["A siren wails.", "A quiet empty room.", "Rain on the roof.", "A map of the city.", "A drum roll."]
    batched = classifier.score(texts)
    with torch.inference_mode():
        one_by_one = []
        for text in texts:
            logits = classifier.model(**classifier.tokenizer([text], return_tensors="pt")).logits
            one_by_one.append(torch.softmax(logits, dim=-1)[0, 1].item())
    assert batched.dtype == torch.float32 and batched.device.type == "cpu"
    assert torch.allclose(batched, torch.tensor(one_by_one), atol=1e-5)
    assert classifier.score([]).shape == (0,)


def test_metrics_match_a_hand_worked_example():
    metrics = classification_metrics([1, 1, 0, 0], [0.9, 0.4, 0.6, 0.1])
    # predictions 1, 0, 1, 0: two right; one true positive, one false positive, one false negative;
    # three of the four positive-negative pairs are ranked the right way round.
    assert (metrics.accuracy, metrics.f1, metrics.roc_auc, metrics.n) == (0.5, 0.5, 0.75, 4)


def test_early_stopping_ends_training_once_validation_roc_auc_stops_improving(small_reference, tmp_path):
    # The tiny random BERT's scores do not move at this learning rate: no evaluation beats the first.
    settings = TrainingSettings(base="tiny:bert-classifier", epochs=6, batch_size=64, learning_rate=1e-12, patience=2)
    trained = train_classifier(small_reference, settings, tmp_path / "tiny")
    assert [record.epoch for record in trained.history] == [1.0, 2.0, 3.0]


def test_training_progress_is_a_few_lines_where_stderr_is_not_a_terminal(small_reference, tmp_path, capfd):
    # Inside a Ray actor the Trainer's tqdm wrote a log line per redraw: 360 steps gave ~400 lines.
    trained = train_classifier(small_reference, TrainingSettings(base="tiny:bert-classifier", epochs=3.0, batch_size=4),
                               tmp_path / "tiny")
    err = capfd.readouterr().err
    assert trained.steps > 10
    assert "cgcap: training" in err and f"{trained.steps}/{trained.steps}" in err
    assert err.count("step/s]") <= 4 and "it/s]" not in err  # cgcap's bar at most every 10 s; no Trainer bars
    assert "'loss'" not in err and "'eval_loss'" not in err  # nor the Trainer's log dicts


def test_time_limit_stops_training_at_the_next_step_and_still_saves_a_model(small_reference, tmp_path):
    settings = TrainingSettings(base="tiny:bert-classifier", epochs=5, batch_size=8, max_seconds=1e-6)
    trained = train_classifier(small_reference, settings, tmp_path / "tiny")
    assert trained.stopped_by_time_limit
    assert [record.step for record in trained.history] == [1]  # evaluated at the step it stopped
    assert (tmp_path / "tiny" / "model.safetensors").is_file()


def test_a_base_that_is_not_a_sequence_classifier_is_refused(small_reference, tmp_path):
    with pytest.raises(ModelNotFoundError, match="tiny:gpt2.*not a sequence classifier"):
        train_classifier(small_reference, TrainingSettings(base="tiny:gpt2"), tmp_path / "x")


def test_frozen_embeddings_and_lower_layers_stay_as_they_were(small_reference, tmp_path):
    from cgcap.models import load

    before = load("tiny:bert-classifier", task="sequence-classifier").model.state_dict()
    settings = TrainingSettings(base="tiny:bert-classifier", epochs=1, batch_size=64, learning_rate=1e-2,
                                freeze_embeddings=True, frozen_layers=1, group_by_length=True)
    after = load(str(train_classifier(small_reference, settings, tmp_path / "tiny").folder),
                 task="sequence-classifier").model.state_dict()
    frozen = [name for name in before if name.startswith(("bert.embeddings.", "bert.encoder.layer.0."))]
    trained = [name for name in before if name.startswith("bert.encoder.layer.1.")]
    assert frozen and trained
    assert all(torch.equal(before[name], after[name]) for name in frozen)
    assert any(not torch.equal(before[name], after[name]) for name in trained)
