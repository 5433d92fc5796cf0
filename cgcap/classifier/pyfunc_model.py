"""The MLflow "models from code" definition of a registered guidance classifier.

MLflow logs this file as code (``python_model=<this path>``) and the trained
Hugging Face folder as the ``classifier`` artifact, so nothing is pickled. The
product loads the folder directly (``cgcap.models.load("models:/...")``); this pyfunc
lets ``mlflow.pyfunc.load_model`` and ``mlflow models serve`` score texts too, with
nothing but transformers installed.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel

ARTIFACT_NAME = "classifier"


class GuidanceClassifierModel(PythonModel):
    """Input: a list of texts; output: P(label 1 | text) per text."""

    def load_context(self, context) -> None:
        # transformers only, so the registered model scores texts where cgcap is not installed.
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        folder = context.artifacts[ARTIFACT_NAME]
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForSequenceClassification.from_pretrained(folder).eval()

    def predict(self, context, model_input: list[str], params=None) -> list[float]:
        import torch

        texts = [str(text) for text in model_input]
        with torch.inference_mode():
            batch = self.tokenizer(texts, padding=True, truncation=True, max_length=64, return_tensors="pt")
            return torch.softmax(self.model(**batch).logits.float(), dim=-1)[:, 1].tolist()


mlflow.models.set_model(GuidanceClassifierModel())
