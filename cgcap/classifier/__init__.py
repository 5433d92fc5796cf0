"""The binary text classifier that steers the decoder (e.g. audible vs not audible).

``TextClassifier.load(spec).score(texts)`` gives P(label 1 | text) for any
sequence-classification spec; ``data``, ``training``, ``evaluation`` and ``registry``
turn labelled sentences into a registered MLflow model (``cgcap classifier train``).
"""

from cgcap.classifier.model import TextClassifier

__all__ = ["TextClassifier"]
