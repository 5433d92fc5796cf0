"""The evaluation job: per-batch prediction parts, resume, MLflow runs, compare, sweeps, the RayJob."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import mlflow
import pytest
import yaml

from cgcap.cli import main as cgcap_main
from cgcap.config import SettingsError, load_settings
from cgcap.evaluation.cli import build_parser
from cgcap.evaluation.predictions import Prediction, PredictionStore
from cgcap.evaluation.sweep import parse_sweep, settings_with
from test_datasets import make_clotho

ROOT = Path(__file__).resolve().parents[1]


def evaluate(argv: list[str]) -> int:
    """``cgcap evaluate ARGV``, what ``jobs/evaluate.py ARGV`` runs."""
    return cgcap_main(["evaluate", *argv])


def test_a_batch_lands_as_one_whole_part_file_and_rewriting_it_duplicates_nothing(tmp_path):
    store = PredictionStore(tmp_path)
    batch = [Prediction(id="a", caption="a dog"), Prediction(id="b", error="unreadable media: empty")]
    first = store.write_batch(batch)
    second = store.write_batch(reversed(batch))  # same ids, any order: same part name
    assert first == second and store.part_files() == [first]
    assert list(store.folder.iterdir()) == [first]  # no temporary file left behind
    store.write_batch([Prediction(id="c", caption="rain")])
    assert store.done_ids() == {"a", "c"}  # b failed: a rerun tries it again
    assert sorted(row.id for row in store.read()) == ["a", "b", "c"]


@pytest.mark.slow  # two evaluations
def test_missing_media_is_reported_counted_and_logged_without_zero_metrics(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=0, missing=2)
    output = tmp_path / "out"
    status = evaluate(["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
                       "--output", str(output), "--profile", "tiny"])
    assert status == 0
    rows = PredictionStore(output).read()
    assert sorted(r.id for r in rows) == ["clip 00.wav", "clip 01.wav"]
    assert all(r.caption is None and r.error.startswith("missing media file") for r in rows)

    run_id = json.loads((output / "mlflow_run.json").read_text())["run_id"]
    run = mlflow.MlflowClient(tracking_uri).get_run(run_id)
    assert run.data.metrics["items_missing"] == 2 and run.data.metrics["items_captioned"] == 0
    assert "CIDEr-D" not in run.data.metrics and "BLEU-4" not in run.data.metrics  # not 0: unavailable
    assert "no item has both a caption" in run.data.tags["unavailable.CIDEr-D"]
    assert run.data.params["decoding.top_k"] == "16" and run.data.params["data.dataset"] == "clotho"

    # A rerun with the same output logs into the same run rather than a second one.
    assert evaluate(["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
                     "--output", str(output), "--profile", "tiny"]) == 0
    runs = mlflow.MlflowClient(tracking_uri).search_runs([run.info.experiment_id])
    assert [r.info.run_id for r in runs] == [run_id]


@pytest.mark.slow  # three evaluations
def test_resuming_into_an_output_made_with_other_settings_is_refused(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=0, missing=1)
    args = ["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
            "--output", str(tmp_path / "out"), "--profile", "tiny", "--quiet"]
    assert evaluate(args) == 0
    assert evaluate(args + ["--set", "decoding.top_k=3"]) == 2
    message = capsys.readouterr().err
    assert "other settings" in message and "decoding.top_k: 16 -> 3" in message
    # The actor pool's size does not change captions: resuming with another one is fine, and noted on the run.
    assert evaluate(args + ["--set", "evaluation.batch_size=2"]) == 0
    run_id = json.loads((tmp_path / "out" / "mlflow_run.json").read_text())["run_id"]
    run = mlflow.MlflowClient(tracking_uri).get_run(run_id)
    assert run.data.params["evaluation.batch_size"] == "16" and run.data.tags["resumed_with.evaluation.batch_size"] == "2"


def test_judge_identical_to_the_guide_is_refused(tmp_path, tracking_uri, capsys):
    make_clotho(tmp_path / "clotho", files=0, missing=1)
    status = evaluate(["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
                       "--output", str(tmp_path / "out"), "--profile", "tiny",
                       "--set", "models.judge_classifier=tiny:bert-classifier"])
    assert status == 2 and "steers audio captions (models.classifier" in capsys.readouterr().err
    status = evaluate(["--dataset", "clotho", "--data-root", str(tmp_path / "clotho"), "--split", "evaluation",
                       "--output", str(tmp_path / "out"), "--profile", "tiny",
                       "--set", "models.image_classifier=tiny:bert-classifier@3",
                       "--set", "models.judge_classifier=tiny:bert-classifier@3"])
    assert status == 2 and "steers image captions (models.image_classifier" in capsys.readouterr().err


def test_runs_compare_prints_params_and_metrics_side_by_side_marking_differences(tracking_uri, capsys):
    from cgcap import tracking
    from cgcap.cli import main as cgcap

    tracking.configure()  # this test's sqlite store, and its experiment made active
    ids = []
    for name, lambda_cls, cider in (("guided", "0.6", 0.41), ("zerocap", "0.0", 0.33)):
        with mlflow.start_run(run_name=name) as run:
            mlflow.log_params({"decoding.lambda_cls": lambda_cls, "decoding.top_k": "64"})
            mlflow.log_metrics({"CIDEr-D": cider, "items_total": 10})
            ids.append(run.info.run_id)
    assert cgcap(["runs", "compare", *ids]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["guided", "zerocap"]
    rows = {line[2:].split("  ")[0].strip(): line for line in lines[2:]}
    assert rows["param decoding.lambda_cls"].startswith("* ") and rows["param decoding.lambda_cls"].split()[-2:] == ["0.6", "0.0"]
    assert rows["metric CIDEr-D"].startswith("* ") and rows["metric CIDEr-D"].split()[-2:] == ["0.41", "0.33"]
    assert rows["param decoding.top_k"].startswith("  ")
    assert cgcap(["runs", "compare", ids[0], "no-such-run"]) == 2
    assert "no MLflow run 'no-such-run'" in capsys.readouterr().err


def test_runs_compare_keeps_columns_narrow_and_the_end_of_long_names(tracking_uri, capsys):
    # An experiment's children are named "decoding.num_iterations=1" ... "=10", and one long param (a list of
    # item ids) made every column hundreds of characters wide, with the names cut before the part that differs.
    from cgcap import tracking
    from cgcap.cli import main as cgcap

    tracking.configure()
    ids = []
    for n in (1, 10):
        with mlflow.start_run(run_name=f"decoding.num_iterations={n}") as run:
            mlflow.log_params({"ids": ",".join(f"audio/clip-{i}.oga" for i in range(20)), "n": str(n)})
            ids.append(run.info.run_id)
    assert cgcap(["runs", "compare", *ids]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-1].endswith("iterations=10") and lines[0].split()[-2].endswith("iterations=1")
    assert max(map(len, lines)) < 120


def test_sweep_values_are_parsed_and_validated_before_any_work():
    assert parse_sweep("decoding.lambda_cls=0, 0.3,0.6,0.9") == ("decoding.lambda_cls", ["0", "0.3", "0.6", "0.9"])
    with pytest.raises(SettingsError, match="at least two values"):
        parse_sweep("decoding.lambda_cls=0.6")
    base = load_settings("tiny")
    assert settings_with(base, "decoding.lambda_cls", "0.3").decoding.lambda_cls == 0.3
    with pytest.raises(SettingsError, match="decoding.lambda_cls"):
        settings_with(base, "decoding.lambda_cls", "-1")


def test_rayjob_manifest_runs_a_valid_evaluate_command_with_gpu_actors():
    manifest = yaml.safe_load((ROOT / "cluster/rayjob-evaluate.yaml").read_text())
    assert manifest["kind"] == "RayJob" and manifest["apiVersion"] == "ray.io/v1"
    words = shlex.split(manifest["spec"]["entrypoint"])
    assert words[:2] == ["python", "jobs/evaluate.py"]
    args = build_parser().parse_args(words[2:])
    settings = load_settings(args.profile, args.config, args.overrides)
    assert settings.evaluation.gpus_per_actor == 1
    gpus_per_worker = int(manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["rayStartParams"]["num-gpus"])
    workers = manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["maxReplicas"]
    assert settings.evaluation.actors * settings.evaluation.gpus_per_actor <= gpus_per_worker * workers


def test_failed_items_are_tried_again_and_a_later_caption_replaces_the_error(tmp_path):
    from cgcap.evaluation.predictions import Prediction, PredictionStore

    store = PredictionStore(tmp_path)
    store.write_batch([Prediction(id="a", caption="dog barking."), Prediction(id="b", error="missing media file: b.wav")])
    assert store.done_ids() == {"a"}  # b is captioned again on a rerun
    store.write_batch([Prediction(id="b", caption="bell ringing.")])
    rows = {row.id: row for row in store.read()}
    assert len(store.read()) == 2 and rows["b"].caption == "bell ringing." and rows["b"].error is None
    assert store.done_ids() == {"a", "b"}


def test_a_run_marker_resumes_only_a_live_run_of_the_same_experiment(tmp_path, tracking_uri):
    import json

    import mlflow

    from cgcap import tracking
    from cgcap.evaluation.recording import resumable_run_id

    experiment_id = tracking.configure(tracking_uri, "cgcap")
    with mlflow.start_run() as run:
        pass
    marker = tmp_path / "mlflow_run.json"
    marker.write_text(json.dumps({"run_id": run.info.run_id}))
    assert resumable_run_id(marker, experiment_id) == run.info.run_id
    assert resumable_run_id(marker, tracking.configure(tracking_uri, "another")) is None
    mlflow.delete_run(run.info.run_id)
    assert resumable_run_id(marker, experiment_id) is None  # resuming a deleted run would crash after captioning


@pytest.mark.slow  # an evaluation
def test_a_resumed_run_prints_the_captions_it_already_has_in_dataset_order_and_no_time_of_its_own(tmp_path, tracking_uri, capsys):
    from test_datasets import write_tone

    for name in ("a.wav", "b.wav"):
        write_tone(tmp_path / "clips" / name)
    output = tmp_path / "out"
    PredictionStore(output).write_batch([Prediction(id="b.wav", caption="bell rings", prompt="Audio of a", seconds=7.0),
                                         Prediction(id="a.wav", caption="dog barks", prompt="Audio of a", seconds=7.2)])

    # Everything is done: no Ray, no captioning, and no references to score against.
    assert evaluate(["--dataset", "folder", "--data-root", str(tmp_path / "clips"), "--output", str(output),
                     "--profile", "tiny"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [f"resumed 2 caption(s) already in {output}:",
                         "a.wav\tAudio of a dog barks\t(7.2 s)", "b.wav\tAudio of a bell rings\t(7.0 s)"]
    # The earlier run's seconds are not this run's: no median for a run that captioned nothing.
    timing = [line for line in lines if "seconds_per_caption" in line]
    assert len(timing) == 1 and "this run captioned nothing" in timing[0] and "7.1" not in timing[0]


def test_ray_data_progress_is_a_bar_in_a_terminal_and_off_elsewhere():
    import logging

    import ray.data

    from cgcap.evaluation.progress import RAY_DATA_PROGRESS_LOGGER, configure_ray_data_progress

    context = ray.data.DataContext.get_current()
    try:
        configure_ray_data_progress(interactive=False)
        assert context.enable_progress_bars is False
        assert logging.getLogger(RAY_DATA_PROGRESS_LOGGER).level == logging.ERROR
        configure_ray_data_progress(interactive=True)
        assert context.enable_progress_bars is True
    finally:
        context.enable_progress_bars = True
        logging.getLogger(RAY_DATA_PROGRESS_LOGGER).setLevel(logging.NOTSET)


def test_batch_progress_says_how_far_and_estimates_the_rest():
    from cgcap.evaluation.progress import BatchProgress

    now = [100.0]
    progress = BatchProgress(40, clock=lambda: now[0])
    now[0] += 30
    assert progress.line(10) == "captioned 10/40 (25%), 30 s so far, about 1.5 min left"
    now[0] += 150
    assert progress.line(30) == "captioned 30/40 (75%), 3.0 min so far, about 60 s left"
    assert progress.line(40) == "captioned 40/40 (100%), 3.0 min so far"


@pytest.fixture
def prepared_specs(monkeypatch):
    """Two specs with a one-off step that records itself, and one that cannot be built here."""
    from cgcap.models import store

    done: list[str] = []
    entries = {
        "test:prepared-lm": store.ModelEntry("test:prepared-lm", "causal-lm", "", "x:y", None,
                                             lambda: done.append("lm")),
        "test:prepared-classifier": store.ModelEntry("test:prepared-classifier", "sequence-classifier", "", "x:y",
                                                     None, lambda: done.append("classifier")),
        "test:unbuildable": store.ModelEntry("test:unbuildable", "sequence-classifier", "", "x:y",
                                             lambda: "its package is missing", lambda: done.append("unbuildable")),
    }
    monkeypatch.setattr(store, "_ADDED", {**store._ADDED, **entries})
    return done


def test_a_local_run_prepares_its_models_one_off_steps_before_ray_starts_and_a_cluster_run_does_not(
        prepared_specs, monkeypatch):
    import cgcap.ray_connection
    from cgcap.evaluation.run import caption_with_ray, prepare_before_local_ray

    settings = load_settings("tiny", overrides=["models.language_model=test:prepared-lm",
                                                "models.classifier=test:prepared-classifier",
                                                "models.image_classifier=test:unbuildable",
                                                "models.judge_classifier=tiny:bert-classifier"])
    from cgcap.decoding.plan import classifiers_in_use

    assert classifiers_in_use(settings.decoding, settings.models)["image"] == "test:unbuildable"
    # The image guide cannot be built here (its loading fails later, naming why); tiny and hub specs have no step.
    assert prepare_before_local_ray(settings) == ["test:prepared-lm", "test:prepared-classifier"]
    assert prepared_specs == ["lm", "classifier"]

    class RayStarted(Exception):
        pass

    def init_ray(address=None, **kwargs):
        raise RayStarted(list(prepared_specs))

    monkeypatch.setattr(cgcap.ray_connection, "init_ray", init_ray)
    prepared_specs.clear()
    with pytest.raises(RayStarted) as local:
        caption_with_ray([], settings, store=None, ray_address=None)
    assert local.value.args[0] == ["lm", "classifier"]  # done before Ray started
    prepared_specs.clear()
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")
    with pytest.raises(RayStarted) as cluster:
        caption_with_ray([], settings, store=None)
    assert cluster.value.args[0] == []  # each node's actors prepare their own cache


def test_the_driver_sets_the_reference_metrics_up_while_ray_captions_only_for_a_dataset_with_references(
        tmp_path, monkeypatch):
    import cgcap.evaluation.run as run
    from cgcap.data.datasets import read_dataset
    from cgcap.evaluation.scoring import MetricModels
    from test_datasets import write_tone

    warmed, handed = [], []
    monkeypatch.setattr(MetricModels, "start_warming", lambda self, settings: warmed.append(settings.profile))

    def caption_with_ray(items, settings, store, echo=True, ray_address=None, meanwhile=None):
        handed.append(meanwhile)
        if meanwhile is not None:
            meanwhile()
        return 0

    monkeypatch.setattr(run, "caption_with_ray", caption_with_ray)
    settings = load_settings("tiny")

    make_clotho(tmp_path / "clotho", files=1)
    clotho = read_dataset("clotho", tmp_path / "clotho", "evaluation")
    request = run.EvaluationRequest(dataset="clotho", data_root=str(tmp_path / "clotho"), split="evaluation",
                                    output=str(tmp_path / "a"), echo=False)
    run.caption_and_score(request, settings, clotho, tmp_path / "a")
    assert warmed == ["tiny"]  # METEOR and BERTScore set up while the actors caption

    write_tone(tmp_path / "clips" / "tone.wav")
    folder = read_dataset("folder", tmp_path / "clips")
    assert not folder.has_references
    request = run.EvaluationRequest(dataset="folder", data_root=str(tmp_path / "clips"), output=str(tmp_path / "b"),
                                    echo=False)
    run.caption_and_score(request, settings, folder, tmp_path / "b")
    assert handed[-1] is None and warmed == ["tiny"]  # no reference metric to set up, no Java program started


def test_work_given_to_do_meanwhile_starts_once_ray_is_up_and_before_the_driver_waits_for_batches(monkeypatch):
    """Started before Ray, the metrics' set-up slowed Ray's start and the actors' model loading."""
    import ray

    import cgcap.ray_connection
    from cgcap.evaluation.run import caption_with_ray

    events = []
    monkeypatch.setattr(cgcap.ray_connection, "init_ray", lambda address=None, **kwargs: events.append("ray up"))

    class Captions:
        def iter_batches(self, **kwargs):
            events.append("waiting for batches")
            return iter(())

    class Dataset:
        def map_batches(self, *args, **kwargs):
            events.append("pool asked for")
            return Captions()

    monkeypatch.setattr(ray.data, "from_items", lambda items: Dataset())
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:6379")  # a cluster: no local preparation
    written = caption_with_ray([{"id": "a", "media_path": "a.wav"}], load_settings("tiny"), store=None,
                               meanwhile=lambda: events.append("metrics set up"))
    assert written == 0
    assert events == ["ray up", "pool asked for", "metrics set up", "waiting for batches"]
