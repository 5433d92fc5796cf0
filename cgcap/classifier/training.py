"""Fine-tune a sequence-classification base on labelled sentences (transformers Trainer).

Evaluates on the validation split every epoch, keeps the checkpoint with the best
validation ROC-AUC and stops early when it stops improving; an optional time limit
ends training at a step boundary (the offline classifier trains on first load).
The result is a Hugging Face folder: safetensors weights, tokenizer, and
``cgcap_classifier.json`` naming the base, prefix and data it was trained on.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import BaseModel, Field

from cgcap.classifier.data import LabelledDataset, SplitSettings
from cgcap.classifier.evaluation import ClassifierMetrics, classification_metrics, evaluate
from cgcap.classifier.model import METADATA_FILE, ClassifierMetadata, TextClassifier

log = logging.getLogger(__name__)


class TrainingSettings(BaseModel):
    """Everything that decides the trained weights; logged as MLflow params."""

    base: str = Field("minilm-l6", description="model-store spec of the base, e.g. minilm-l6, distilbert-base-uncased")
    prefix: str = Field("", description='put before every sentence, e.g. "Audio of a " as the published code')
    epochs: float = Field(2.0, gt=0.0, le=100.0)
    batch_size: int = Field(32, ge=1, le=4096)
    learning_rate: float = Field(1e-4, gt=0.0, le=1.0)
    weight_decay: float = Field(0.01, ge=0.0, le=1.0)
    warmup_fraction: float = Field(0.06, ge=0.0, lt=1.0)
    max_length: int = Field(64, ge=8, le=512, description="tokens per sentence")
    group_by_length: bool = Field(False, description="batch sentences of similar length: less padding, same epochs")
    freeze_embeddings: bool = Field(False, description="keep the token embeddings fixed (half of MiniLM's weights)")
    frozen_layers: int = Field(0, ge=0, le=64, description="lower encoder layers kept fixed")
    patience: int = Field(1, ge=1, description="evaluations without a better validation ROC-AUC before stopping")
    max_seconds: float | None = Field(None, gt=0.0, description="stop at the first step past this many seconds")
    seed: int = Field(0, ge=0)
    device: str = Field("auto", description="auto, cpu, cuda or cuda:N")
    split: SplitSettings = SplitSettings()


class EpochRecord(BaseModel):
    epoch: float
    step: int
    validation: dict[str, float]


class TrainedClassifier(BaseModel):
    folder: Path
    test: ClassifierMetrics
    history: list[EpochRecord]
    train_seconds: float
    steps: int = 0
    stopped_by_time_limit: bool = False


class _SentenceDataset:
    """Tokenised sentences for the Trainer; padding happens per batch in the collator."""

    def __init__(self, tokenizer, texts: list[str], labels: list[int], max_length: int):
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
        self.items = [
            {**{key: values[i] for key, values in encoded.items()}, "labels": labels[i]} for i in range(len(texts))
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]


def _validation_metrics(prediction) -> dict[str, float]:
    logits = np.asarray(prediction.predictions, dtype=np.float64)
    logits -= logits.max(axis=-1, keepdims=True)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    metrics = classification_metrics(prediction.label_ids, probabilities[:, 1])
    return {"accuracy": metrics.accuracy, "roc_auc": metrics.roc_auc, "f1": metrics.f1}


def _callbacks(settings: TrainingSettings, on_evaluation, history: list[EpochRecord], timing: dict):
    from transformers import EarlyStoppingCallback, TrainerCallback

    class RecordEvaluations(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            validation = {k.removeprefix("eval_"): float(v) for k, v in (metrics or {}).items()
                          if k in ("eval_accuracy", "eval_roc_auc", "eval_f1", "eval_loss")}
            record = EpochRecord(epoch=float(state.epoch or 0.0), step=state.global_step, validation=validation)
            history.append(record)
            if on_evaluation is not None:
                on_evaluation(record)

    class TimeLimit(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if settings.max_seconds is not None and time.monotonic() - timing["start"] > settings.max_seconds:
                # The epoch ends here; its end-of-epoch evaluation and save still run.
                control.should_training_stop = True
                timing["stopped"] = True

    class Progress(TrainerCallback):
        # cgcap's own bar instead of the Trainer's tqdm: inside a Ray actor stderr is not a terminal and
        # every tqdm redraw (training and each evaluation's nested bar) became a log line, 400 of them.
        def on_train_begin(self, args, state, control, **kwargs):
            from cgcap.models.prepare import progress_bar

            self.bar = progress_bar(state.max_steps, "training", unit="step")

        def on_step_end(self, args, state, control, **kwargs):
            self.bar.update(1)

        def on_train_end(self, args, state, control, **kwargs):
            self.bar.close()

    return [RecordEvaluations(), TimeLimit(), Progress(),
            EarlyStoppingCallback(early_stopping_patience=settings.patience)]


def _freeze(model, settings: TrainingSettings) -> None:
    """Fixed embeddings and lower layers: no gradients or optimiser state for them, so each step is cheaper."""
    if not settings.freeze_embeddings and settings.frozen_layers == 0:
        return
    base = getattr(model, model.base_model_prefix, None)
    embeddings = getattr(base, "embeddings", None)
    layers = getattr(getattr(base, "encoder", None), "layer", None) or getattr(getattr(base, "transformer", None), "layer", None)
    if embeddings is None or layers is None:
        raise ValueError(f"{type(model).__name__}: cannot find the embeddings and layers to freeze")
    if settings.frozen_layers > len(layers):
        raise ValueError(f"frozen_layers = {settings.frozen_layers} but the base has {len(layers)} layers")
    frozen = ([embeddings] if settings.freeze_embeddings or settings.frozen_layers else []) + list(layers[:settings.frozen_layers])
    for module in frozen:
        module.requires_grad_(False)


def train_classifier(
    dataset: LabelledDataset,
    settings: TrainingSettings,
    output_folder: str | Path,
    on_evaluation: Callable[[EpochRecord], None] | None = None,
) -> TrainedClassifier:
    """Fine-tune ``settings.base``; save the best checkpoint as a safetensors folder."""
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments, set_seed

    from cgcap.models import load, resolve_device

    set_seed(settings.seed)  # the new classification head is initialised from the global RNG
    device = resolve_device(settings.device)
    loaded = load(settings.base, task="sequence-classifier", device="cpu")
    if loaded.kind != "sequence-classifier":
        from cgcap.models import ModelNotFoundError

        raise ModelNotFoundError(f"base {settings.base!r} is a {loaded.kind} model, not a sequence classifier")
    model, tokenizer = loaded.model, loaded.tokenizer
    model.train()
    _freeze(model, settings)

    train = dataset.train.with_prefix(settings.prefix)
    validation = dataset.validation.with_prefix(settings.prefix)
    history: list[EpochRecord] = []
    timing = {"start": time.monotonic(), "stopped": False}
    with tempfile.TemporaryDirectory(prefix="cgcap-classifier-") as checkpoints:
        arguments = TrainingArguments(
            output_dir=checkpoints,
            num_train_epochs=settings.epochs,
            per_device_train_batch_size=settings.batch_size,
            per_device_eval_batch_size=max(settings.batch_size, 128),
            learning_rate=settings.learning_rate,
            weight_decay=settings.weight_decay,
            warmup_steps=settings.warmup_fraction,  # below 1: a fraction of all steps
            eval_strategy="epoch",
            save_strategy="epoch",
            save_only_model=True,
            save_total_limit=2,
            load_best_model_at_end=True,
            metric_for_best_model="roc_auc",
            greater_is_better=True,
            logging_steps=50,
            report_to="none",
            seed=settings.seed,
            use_cpu=device == "cpu",
            dataloader_pin_memory=False,
            disable_tqdm=True,  # the Progress callback shows the steps
            train_sampling_strategy="group_by_length" if settings.group_by_length else "random",
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=_SentenceDataset(tokenizer, train.texts, train.labels, settings.max_length),
            eval_dataset=_SentenceDataset(tokenizer, validation.texts, validation.labels, settings.max_length),
            processing_class=tokenizer,
            data_collator=DataCollatorWithPadding(tokenizer),
            compute_metrics=_validation_metrics,
            callbacks=_callbacks(settings, on_evaluation, history, timing),
        )
        # Its log dicts ({'loss': ...} every 50 steps) are noise beside cgcap's bar and the epoch records.
        trainer.remove_callback(PrinterCallback)
        # The Trainer prints its log lines to stdout; keep stdout for the report (``--json``).
        with contextlib.redirect_stdout(sys.stderr):
            trainer.train()
        train_seconds = time.monotonic() - timing["start"]
        steps = trainer.state.global_step
        model = trainer.model  # the best checkpoint by validation ROC-AUC

    output_folder = Path(output_folder)
    output_folder.mkdir(parents=True, exist_ok=True)
    model.to("cpu").eval()
    model.save_pretrained(output_folder)  # safetensors
    tokenizer.save_pretrained(output_folder)
    for leftover in output_folder.glob("*.bin"):  # nothing pickled travels with the model
        leftover.unlink()

    loaded.model, loaded.source = model.to(device), str(output_folder)
    classifier = TextClassifier(loaded, max_length=settings.max_length)
    test = evaluate(classifier, dataset.test, prefix=settings.prefix)
    metadata = ClassifierMetadata(
        base=settings.base, prefix=settings.prefix, dataset_hash=dataset.dataset_hash,
        split_seed=dataset.split_seed, test_metrics=test.model_dump(exclude={"n"}),
    )
    (output_folder / METADATA_FILE).write_text(metadata.model_dump_json(indent=2))
    log.info("trained %s in %.0f s: test accuracy %.4f, ROC-AUC %.4f, F1 %.4f",
             settings.base, train_seconds, test.accuracy, test.roc_auc, test.f1)
    return TrainedClassifier(folder=output_folder, test=test, history=history, train_seconds=train_seconds,
                             steps=steps, stopped_by_time_limit=timing["stopped"])
