"""Text towers on torch, ONNX Runtime and ONNX int8: the same scores? how fast?

Real candidate sets: for a few captions in progress, the decoder's prefix plus each of
SmolLM2's top-k next tokens (the texts a scorer sees at k = 512). For each tower it prints
the largest score difference from torch, the rank correlation (Spearman) of int8 with
float32 per candidate set (mean and worst), and the CPU seconds per candidate set.

Towers: the classifier (``--classifier``, default the offline profile's) as P(label 1), and
the taggers' sentence embedder (``SentenceEmbedder``, the packaged all-MiniLM-L6-v2) as the
cosine of each candidate with a class phrase, as the tagger encoders score candidates.

    python benchmarks/text_backends.py --k 512 --threads 1
    python benchmarks/text_backends.py --towers sentence
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PREFIXES = ["Audio of a", "Audio of a dog", "Audio of a bell ringing in", "Image of a cat sitting",
            "Audio of a crowd cheering at the"]


def candidate_sets(k: int) -> list[list[str]]:
    import torch

    from cgcap.decoding.vocabulary import vocabulary_of
    from cgcap.models import load

    lm = load("smollm2-135m")
    vocabulary = vocabulary_of(lm)
    sets = []
    for prefix in PREFIXES:
        ids = lm.tokenizer(prefix, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            top = lm.model(ids).logits[0, -1].topk(k).indices.tolist()
        sets.append([prefix + vocabulary.pieces[token] for token in top])
    return sets


def cpu_seconds(function) -> float:
    started = time.process_time()
    function()
    return time.process_time() - started


def compare(name: str, score_of: dict, sets: list[list[str]]) -> dict:
    """``score_of``: backend -> function(texts) -> 1-d numpy scores."""
    import numpy as np
    from scipy.stats import spearmanr

    for function in score_of.values():
        function(sets[0][:8])  # warm-up (and the one-off export)
    scores = {backend: [np.asarray(function(texts)) for texts in sets] for backend, function in score_of.items()}
    seconds = {backend: round(min(cpu_seconds(lambda: function(texts)) for texts in sets), 3)
               for backend, function in score_of.items()}
    out = {"tower": name, "texts_per_set": len(sets[0]), "sets": len(sets), "cpu_seconds_per_set": seconds}
    for backend in score_of:
        if backend == "torch":
            continue
        out[f"{backend}_max_abs_diff_vs_torch"] = float(max(np.abs(a - b).max() for a, b in zip(scores[backend], scores["torch"])))
    if "onnx-int8" in scores:
        rhos = [spearmanr(a, b).statistic for a, b in zip(scores["onnx-int8"], scores["onnx"])]
        out["int8_spearman_mean"], out["int8_spearman_worst"] = round(float(np.mean(rhos)), 4), round(float(min(rhos)), 4)
    return out


def main() -> None:
    import torch

    from cgcap.models.taggers import sentence_embedder

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--classifier", default="minilm-l6-audibility")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--towers", nargs="+", choices=["classifier", "sentence"], default=["classifier", "sentence"])
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sets = candidate_sets(args.k)
    print(f"torch threads {torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f}", flush=True)

    if "classifier" in args.towers:
        compare_classifiers(args.classifier, sets)
    if "sentence" in args.towers:
        embedder = sentence_embedder()
        embedders = {"torch": embedder.on_backend("torch"), "onnx": embedder.on_backend("onnx"),
                     "onnx-int8": embedder.on_backend("onnx", int8=True)}

        def cosine_with_phrase(embedder):
            def score(texts):
                vectors = embedder.embed_texts(["the sound of telephone bell ringing"] + list(texts)).numpy()
                return vectors[1:] @ vectors[0]
            return score

        print(json.dumps(compare("MiniLM sentence cosine", {b: cosine_with_phrase(e) for b, e in embedders.items()},
                                 sets)), flush=True)
    print(f"load average after {os.getloadavg()[0]:.1f}")


def compare_classifiers(spec: str, sets: list[list[str]]) -> None:
    from cgcap.classifier import TextClassifier

    classifiers = {"torch": TextClassifier.load(spec, backend="torch"),
                   "onnx": TextClassifier.load(spec, backend="onnx"),
                   "onnx-int8": TextClassifier.load(spec, backend="onnx", int8=True)}
    print(json.dumps(compare(f"classifier {spec}", {b: (lambda t, c=c: c.score(t).numpy())
                                                      for b, c in classifiers.items()}, sets)), flush=True)


if __name__ == "__main__":
    main()
