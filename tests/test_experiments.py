"""The paper's three open checks as experiments: each lands a parent MLflow run with child runs, a table
and a plot, and the parent's figures are the ones its children logged (tiny profile, real file formats)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile
from mlflow import MlflowClient
from PIL import Image

from cgcap.cli import main
from cgcap.config import load_settings
from cgcap.evaluation.run import EvaluationRequest
from cgcap.experiments.iterations import run_iterations, smallest_n_keeping
from cgcap.experiments.real_captions import RealCaptionRequest, run_real_captions
from cgcap.experiments.transfer import run_transfer

pytestmark = pytest.mark.slow  # each experiment runs its child evaluations

# The image rule steers with another classifier towards the other label, as the offline profile does.
PER_MODALITY = ["models.image_classifier=tiny:bert-classifier@7", "decoding.image_wanted_label=0",
                "decoding.max_tokens=3", "evaluation.bertscore_encoder=null"]
AUDIO_CAPTIONS = ["A bell rings loudly.", "A dog barks twice.", "Rain falls on a tin roof."]
IMAGE_CAPTIONS = ["A red square on a black wall.", "An orange cat sits on a chair.", "A quiet green field."]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """``plain``: one tone and one picture, no captions; ``captioned``: three of each with captions.csv."""
    root = tmp_path_factory.mktemp("experiments")
    seconds = np.arange(16000) / 16000
    pixels = np.zeros((48, 64, 3), dtype=np.uint8)
    pixels[:, :32] = (200, 30, 30)
    for name, count in (("plain", 1), ("captioned", 3)):
        folder = root / name
        folder.mkdir()
        for index in range(count):
            tone = 0.3 * np.sin(2 * np.pi * (440 + 110 * index) * seconds)
            soundfile.write(folder / f"tone{index}.wav", tone.astype(np.float32), 16000)
            Image.fromarray(np.roll(pixels, 8 * index, axis=1)).save(folder / f"picture{index}.png")
    rows = [f"tone{i}.wav,{c}" for i, c in enumerate(AUDIO_CAPTIONS)]
    rows += [f"picture{i}.png,{c}" for i, c in enumerate(IMAGE_CAPTIONS)]
    (root / "captioned" / "captions.csv").write_text("file_name,caption\n" + "\n".join(rows) + "\n")
    return root


def children_of(client: MlflowClient, parent_id: str) -> dict[str, object]:
    parent = client.get_run(parent_id)
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'")
    return {run.info.run_name: run for run in runs}


def artifact_names(client: MlflowClient, run_id: str) -> set[str]:
    return {item.path for item in client.list_artifacts(run_id)}


@pytest.mark.parametrize("argv", [
    ["real-captions"],
    ["iterations", "--quality", "CIDEr-D", "--in-process"],
    ["transfer", "--quality", "BLEU-4", "--in-process"],
])
def test_checks_that_need_references_refuse_a_dataset_without_them(folders, tmp_path, tracking_uri, capsys, argv):
    output = tmp_path / "out"
    code = main(["experiment", argv[0], "--dataset", "folder", "--data-root", str(folders / "plain"),
                 "--output", str(output), "--profile", "tiny", *argv[1:]])
    error = capsys.readouterr().err
    assert code == 2 and ("has no reference captions" in error or "has none" in error)
    assert "captions.csv" in error and len(error.strip().splitlines()) == 1
    assert not list(output.rglob("*.jsonl")) and not list(output.rglob("mlflow_*.json"))  # before any caption or run


def test_real_caption_check_scores_each_guide_on_each_modalitys_own_captions(folders, tmp_path, tracking_uri):
    from cgcap.classifier import TextClassifier
    from cgcap.classifier.evaluation import classification_metrics

    settings = load_settings("tiny", overrides=PER_MODALITY)
    request = RealCaptionRequest(dataset="folder", data_root=str(folders / "captioned"), output=str(tmp_path / "rc"))
    parent_id, rows = run_real_captions(request, settings)

    client = MlflowClient(tracking_uri)
    children = children_of(client, parent_id)
    assert set(children) == {f"{g} guide on {m} captions" for g in ("audio", "image") for m in ("audio", "image")}
    guides = {"audio guide": ("tiny:bert-classifier", 1), "image guide": ("tiny:bert-classifier@7", 0)}
    for name, (spec, label) in guides.items():
        classifier = TextClassifier.load(spec)
        for modality, positives, negatives in (("audio", AUDIO_CAPTIONS, IMAGE_CAPTIONS),
                                               ("image", IMAGE_CAPTIONS, AUDIO_CAPTIONS)):
            p_label_1 = classifier.score(positives + negatives).tolist()  # untrained: no prefix
            wanted = p_label_1 if label == 1 else [1 - p for p in p_label_1]
            expected = classification_metrics([1, 1, 1, 0, 0, 0], wanted)
            child = children[f"{name} on {modality} captions"]
            assert child.data.metrics["real_accuracy"] == pytest.approx(expected.accuracy)
            assert child.data.metrics["real_roc_auc"] == pytest.approx(expected.roc_auc)
            assert child.data.params["classifier"] == spec and child.data.params["wanted_label"] == str(label)
            parent = client.get_run(parent_id)
            assert parent.data.metrics[f"{modality}.{name}.real_accuracy"] == pytest.approx(expected.accuracy)
    assert {"real_captions.png", "real_captions.csv", "real_captions_table.json"} <= artifact_names(client, parent_id)


def test_smallest_n_is_the_first_that_keeps_90_percent_of_the_largest_ns_gain():
    quality = {0: 0.10, 1: 0.40, 5: 0.90, 10: 0.95, 20: 1.00}  # full gain 0.90; 90% of it is 0.81
    assert smallest_n_keeping(quality) == (10, pytest.approx(0.90))
    assert smallest_n_keeping({0: 0.5, 1: 0.4, 20: 0.5}) == (None, 0.0)  # no gain: nothing to keep


def test_iterations_check_logs_one_child_per_n_and_the_smallest_n_from_their_figures(folders, tmp_path, tracking_uri):
    settings = load_settings("tiny", overrides=PER_MODALITY)
    request = EvaluationRequest(dataset="folder", data_root=str(folders / "plain"), output=str(tmp_path / "it"),
                                in_process=True, echo=False)
    parent_id, rows = run_iterations(request, settings, values=[1, 2], quality="CLAP-S")

    client = MlflowClient(tracking_uri)
    children = children_of(client, parent_id)
    assert set(children) == {f"decoding.num_iterations={n}" for n in (0, 1, 2)}
    logged = {n: children[f"decoding.num_iterations={n}"].data.metrics for n in (0, 1, 2)}
    assert {n: m["CLAP-S"] for n, m in logged.items()} == {
        row["n"]: pytest.approx(row["quality"]) for row in rows}
    parent = client.get_run(parent_id)
    for n in (0, 1, 2):
        assert parent.data.metrics[f"quality.n_{n}"] == pytest.approx(logged[n]["CLAP-S"])
        assert parent.data.metrics[f"seconds_per_caption.n_{n}"] == pytest.approx(logged[n]["seconds_per_item"])
    best, full_gain = smallest_n_keeping({n: m["CLAP-S"] for n, m in logged.items()})
    assert parent.data.metrics["full_gain"] == pytest.approx(full_gain)
    assert parent.data.metrics.get("smallest_n_keeping_90pct") == (None if best is None else float(best))
    assert parent.data.tags["cgcap.kind"] == "experiment.iterations" and parent.data.tags["cgcap.quality_metric"] == "CLAP-S"
    assert {"iterations.png", "iterations.csv", "sweep.png"} <= artifact_names(client, parent_id)


def test_transfer_check_fills_classifier_by_modality_with_gains_over_no_classifier(folders, tmp_path, tracking_uri,
                                                                                   capsys):
    settings = load_settings("tiny", overrides=PER_MODALITY)
    request = EvaluationRequest(dataset="folder", data_root=str(folders / "plain"), output=str(tmp_path / "tr"),
                                in_process=True, echo=False)
    parent_id, rows = run_transfer(request, settings)

    client = MlflowClient(tracking_uri)
    children = children_of(client, parent_id)
    variants = ("no classifier", "audio guide", "image guide")
    assert set(children) == {f"{v} on {m}" for v in variants for m in ("audio", "image")}
    # The baseline steers with nothing; each guide steers both modalities with its own classifier and label.
    assert children["no classifier on image"].data.params.get("guide.image") == "none"
    assert children["image guide on audio"].data.params["guide.audio"].startswith("tiny:bert-classifier@7 label 0")
    assert children["audio guide on image"].data.params["guide.image"].startswith("tiny:bert-classifier label 1")
    parent = client.get_run(parent_id)
    for modality, metric in (("audio", "CLAP-S"), ("image", "CLIP-S")):
        base = children[f"no classifier on {modality}"].data.metrics[metric]
        own = children[f"{modality} guide on {modality}"].data.metrics[metric] - base
        for guide in ("audio guide", "image guide"):
            gain = children[f"{guide} on {modality}"].data.metrics[metric] - base
            assert parent.data.metrics[f"gain.{guide}.{modality}"] == pytest.approx(gain)
            row = next(r for r in rows if r["guide"] == guide and r["modality"] == modality)
            assert row["quality_metric"] == metric and row["gain"] == pytest.approx(gain)
            assert row[f"gain {metric}"] == pytest.approx(gain)  # every metric's gain is in the table too
            if own:
                assert parent.data.metrics[f"retained.{guide}.{modality}"] == pytest.approx(gain / own)
    assert {"transfer.png", "transfer.csv"} <= artifact_names(client, parent_id)

    # Parents side by side, or one parent's children.
    assert main(["runs", "compare", parent_id, parent_id]) == 0
    assert "gain.image guide.audio" in capsys.readouterr().out
    assert main(["runs", "compare", "--children", parent_id, "--differences"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert all(name[:24] in header for name in children)


def test_evaluations_of_a_dataset_with_word_lists_report_hit_rate_real_words_and_endings(tmp_path):
    import json

    from cgcap.data.datasets import read_folder
    from cgcap.evaluation.predictions import Prediction
    from cgcap.evaluation.scoring import aggregate, caption_figures

    for name in ("bell.wav", "cat.png", "dog.png"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "content_words.json").write_text(json.dumps({"bell.wav": ["bell"], "cat.png": ["cat", "kitten"],
                                                              "dog.png": ["dog"]}))
    predictions = {
        "bell.wav": Prediction(id="bell.wav", prompt="Audio of a", caption="bells ringing.", ended_on_own=True,
                               input_words="church bell chime", classifier_score=0.8),
        "cat.png": Prediction(id="cat.png", prompt="Image of a", caption="kitten zzqxv", ended_on_own=False,
                              input_words="tabby tiger", classifier_score=0.4),
        "dog.png": Prediction(id="dog.png", error="unreadable media: empty"),
    }
    report = caption_figures(read_folder(tmp_path), predictions)
    figures = aggregate(report, list(predictions))
    assert figures["hit_rate"] == pytest.approx(1.0)  # both captions name their content; failures not counted
    assert figures["ends_on_own_share"] == pytest.approx(0.5)
    assert figures["real_word_share"] == pytest.approx(3 / 4)  # "zzqxv" is not a word
    assert figures["tagger_hit_rate"] == pytest.approx(0.5)  # the tagger's words name the bell, not the cat
    assert figures["hit_rate_where_tagger_hits"] == pytest.approx(1.0)
    assert figures["wanted_label_probability"] == pytest.approx(0.6)  # no judge: the guide's own scores
    assert report.per_item["cat.png"] == {"real_words": 1.0, "words": 2.0, "real_word_share": 0.5, "hit": 1.0,
                                          "tagger_hit": 0.0, "wellformed": 0.0, "ended_on_own": 0.0,
                                          "wanted_label_probability": 0.4}
    assert report.reasons["cat.png"]["wellformed"]  # why "Image of a kitten zzqxv" does not read as English
    assert aggregate(report, ["cat.png"])["hit_rate"] == 1.0 and aggregate(report, ["dog.png"]) == {}
    (tmp_path / "content_words.json").unlink()
    assert "hit_rate" in caption_figures(read_folder(tmp_path), predictions).unavailable
