"""Seconds per token and peak memory: the GuidedDecoder's exact and fast modes against the reference loop.

All caption the same input with the same settings (SmolLM2-135M, the tiny CLAP encoder
on a synthetic two-second clip, the MiniLM classifier, beam 1, 5 iterations) at k = 512
and k = 64. ``exact`` is the default decoder (its classifier and CLAP's text tower on the
default text backend: ONNX Runtime on a CPU); ``fast`` adds ``decoding.speed=fast`` (an approximation: its tokens
may differ). The reference loop scores with the torch towers, as published. The script
checks that exact writes the reference's tokens and prints each variant's ratio to it.
Each run is a separate process so its peak resident memory is its own.

    python benchmarks/decode.py                 # k = 512 and 64, 5 tokens
    python benchmarks/decode.py --k 64 --tokens 8 --device cuda
    python benchmarks/decode.py --variants reference exact --reference-backend onnx   # the loop's own share
    python benchmarks/decode.py --k 512 --tokens 6 --variants reference exact --bound  # the most 2 cores allow

``--bound`` also runs exact on one thread: its CPU seconds per token are the decoder's work
(the same LM passes, the same distinct candidate texts), which N cores can at best divide by N.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)
ROOT = Path(__file__).resolve().parents[1]


VARIANTS = {  # name -> (decoder settings on top of the common ones, text backend, int8)
    "reference": ({}, None, False),
    "exact": ({}, "auto", False),
    "fast": ({"speed": "fast"}, "auto", False),
    "fast-int8": ({"speed": "fast"}, "onnx", True),
}


TWINS = {"smollm2-135m": "causal-lm", "minilm-l6": "sequence-classifier"}


def save_twin_configs(folder: Path) -> None:
    """Configs and tokenizers (4 MB) of the two models, for ``--random-weights`` on a machine their weights
    (540 MB) cannot reach."""
    import shutil

    from cgcap.models import load

    for spec in TWINS:
        source = Path(load(spec).source)
        (folder / spec).mkdir(parents=True, exist_ok=True)
        for path in source.iterdir():
            if path.is_file() and not path.name.endswith((".safetensors", ".bin", ".gguf", ".onnx")):
                shutil.copy(path, folder / spec / path.name)


def _random_twins(folder: Path, device: str):
    """SmolLM2-135M and MiniLM-L6 built from their configs with random weights: the same shapes, so the same
    seconds per token (the weights' values do not change the work); the tokens mean nothing."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    from cgcap.models import LoadedModel

    def twin(spec: str, builder, **config):
        model = builder.from_config(AutoConfig.from_pretrained(folder / spec, **config)).to(device).eval()
        return LoadedModel(spec, TWINS[spec], model, tokenizer=AutoTokenizer.from_pretrained(folder / spec),
                           source=str(folder / spec))

    return twin("smollm2-135m", AutoModelForCausalLM), twin("minilm-l6", AutoModelForSequenceClassification, num_labels=2)


def run_one(variant: str, k: int, tokens: int, iterations: int, device: str, text_only: bool, threads: int | None,
            repeats: int, reference_backend: str, random_weights: str | None = None) -> dict:
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)

    sys.path.insert(0, str(ROOT / "tests"))
    from cgcap.classifier import TextClassifier
    from cgcap.config import DecodingSettings
    from cgcap.data.media import DecodedMedia
    from cgcap.decoding import GuidedDecoder
    from cgcap.encoders import input_scorer, load_encoder
    from cgcap.models import load
    from reference_decoder import ReferenceDecoder

    changes, backend, int8 = VARIANTS[variant]
    torch.manual_seed(0)  # minilm-l6's 2-label head is freshly initialised: the same head in every process
    if random_weights:
        lm, minilm = _random_twins(Path(random_weights), device)
        classifier = TextClassifier(minilm, backend=backend or reference_backend, int8=int8)
    else:
        lm = load("smollm2-135m", device=device)
        classifier = TextClassifier.load("minilm-l6", device=device, backend=backend or reference_backend, int8=int8)
    modality = None
    if not text_only:
        rng = np.random.default_rng(0)
        clip = (0.1 * rng.standard_normal(32000)).astype(np.float32)
        media = DecodedMedia(modality="audio", format="wav", audio=clip, sample_rate=16000, duration_seconds=2.0)
        # The CLAP text tower runs on the same backend as the classifier, as models.text_backend sets both.
        encoder = load_encoder("tiny:clap", device=device, text_backend=backend or reference_backend, int8=int8)
        modality = input_scorer(media, {"audio": encoder})
    # max_tokens is a ceiling: the end token may come sooner, and both runs stop at the same place.
    settings = DecodingSettings(top_k=k, num_iterations=iterations, max_tokens=tokens, beam_size=1, **changes)
    decoder = GuidedDecoder(lm, settings)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    reference = ReferenceDecoder(lm.model, lm.tokenizer, settings, decoder.forbidden_ids.tolist(),
                                 decoder.end_token_id, decoder.vocabulary.start_token_id())
    seconds = cpu_seconds = float("inf")
    for _ in range(repeats):  # the best of the repeats: other processes on a shared machine only add time
        started, cpu_started = time.perf_counter(), time.process_time()
        if variant != "reference":
            result = decoder.caption(modality, classifier)
            beam_tokens, caption = result.beams[0].tokens, result.caption
            scoring, iterations_done = result.timings["scoring"], result.timings["iterations_per_token"]
            texts_per_token = result.timings["texts_scored_per_token"]
        else:
            best = reference.caption(modality, classifier)[0]
            beam_tokens, caption, scoring, iterations_done = best.tokens, best.text, None, float(iterations)
            texts_per_token = None
        seconds = min(seconds, time.perf_counter() - started)
        cpu_seconds = min(cpu_seconds, time.process_time() - cpu_started)
    out = {
        "variant": variant, "k": k, "tokens": beam_tokens, "caption": caption, "seconds": seconds,
        "seconds_per_token": seconds / len(beam_tokens), "scoring_seconds": scoring, "iterations_per_token": iterations_done, "texts_per_token": texts_per_token,
        "cpu_seconds_per_token": cpu_seconds / len(beam_tokens),
        "rss_after_load_mib": rss_loaded, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(), "text_backend": classifier.backend + ("-int8" if int8 else ""),
    }
    if device.startswith("cuda"):
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    return out


def _launch(args, variant: str, k: int, threads: int | None) -> dict | None:
    """One variant in its own process (its own peak memory); None if it failed (stderr printed)."""
    command = [sys.executable, __file__, "--one", variant, "--k", str(k), "--tokens", str(args.tokens),
               "--iterations", str(args.iterations), "--device", args.device,
               "--reference-backend", args.reference_backend, "--repeats", str(args.repeats)]
    if args.text_only:
        command.append("--text-only")
    if threads:
        command += ["--threads", str(threads)]
    if args.random_weights:
        command += ["--random-weights", args.random_weights]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        print(done.stderr[-8000:], file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _print_row(k: int, variant: str, run: dict, reference: dict | None) -> None:
    ratio = f"{reference['seconds_per_token'] / run['seconds_per_token']:.2f}x" if reference else "-"
    cpu_ratio = f"{reference['cpu_seconds_per_token'] / run['cpu_seconds_per_token']:.2f}x" if reference else "-"
    same = str(run["tokens"] == reference["tokens"]) if reference and variant != "reference" else "-"
    scoring = f"{run['scoring_seconds']:.2f}" if run["scoring_seconds"] is not None else "-"
    texts = f"{run['texts_per_token']:.0f}" if run.get("texts_per_token") is not None else "-"
    extra = f" (CUDA peak {run['cuda_peak_mib']:.0f} MiB)" if "cuda_peak_mib" in run else ""
    print(f"{k:>5} {variant:>10} {run['text_backend']:>10} {run['seconds_per_token']:>9.3f} "
          f"{run['cpu_seconds_per_token']:>12.3f} {scoring:>10} {run['iterations_per_token']:>6.1f} {texts:>9} "
          f"{ratio:>7} {cpu_ratio:>10} {same:>11} {run['peak_rss_mib']:>13.0f}  {run['caption']!r}{extra}", flush=True)


def _print_bound(args, k: int, reference: dict) -> None:
    """The exact decoder's work per token is its CPU time on one thread (the same LM passes and the same
    distinct texts; a core does not go faster for having a neighbour), so N cores take at least work / N."""
    one = _launch(args, "exact", k, 1)
    if one is None:
        return
    _print_row(k, "exact/1thr", one, reference)
    cores = args.threads or os.cpu_count() or 1
    floor = one["cpu_seconds_per_token"] / cores
    print(f"{k:>5} bound: exact on {cores} cores takes at least {one['cpu_seconds_per_token']:.3f} / {cores} = "
          f"{floor:.3f} s/token, at most {reference['seconds_per_token'] / floor:.2f}x the reference's "
          f"{reference['seconds_per_token']:.3f} s/token", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[512, 64])
    parser.add_argument("--tokens", type=int, default=5, help="tokens per caption (at most)")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-only", action="store_true", help="no modality scorer (the docs/ALGORITHM.md baseline)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="captions per run; the fastest is reported")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["reference", "exact", "fast"])
    parser.add_argument("--reference-backend", choices=["torch", "onnx"], default="torch",
                        help="the reference loop's classifier backend (torch: as published)")
    parser.add_argument("--bound", action="store_true",
                        help="also run exact on 1 thread: its s/token is the work, which N cores can at best divide by N")
    parser.add_argument("--random-weights", metavar="DIR",
                        help="SmolLM2 and MiniLM from the configs in DIR with random weights (same speed; for a "
                             "machine the weights cannot reach)")
    parser.add_argument("--save-configs", metavar="DIR", help="write the configs --random-weights needs, and stop")
    parser.add_argument("--one", choices=list(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.save_configs:
        save_twin_configs(Path(args.save_configs))
        return 0

    if args.one:
        print(json.dumps(run_one(args.one, args.k[0], args.tokens, args.iterations, args.device, args.text_only,
                                 args.threads, args.repeats, args.reference_backend, args.random_weights)))
        return 0

    mode = "text-only" if args.text_only else "tiny CLAP modality scorer"
    if args.random_weights:
        mode += " (random weights of the same shapes)"
    print(f"SmolLM2-135M + MiniLM classifier + {mode}; beam 1, {args.iterations} iterations, "
          f"up to {args.tokens} tokens, device {args.device}, {os.cpu_count()} CPUs, "
          f"torch threads {args.threads or 'default'}, best of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'k':>5} {'variant':>10} {'scorer':>10} {'s/token':>9} {'CPU s/token':>12} {'scoring s':>10} "
          f"{'iters':>6} {'texts/tok':>9} {'vs ref':>7} {'CPU vs ref':>10} {'same tokens':>11} {'peak RSS MiB':>13}  caption")
    failed = False
    for k in args.k:
        runs = {}
        for variant in args.variants:
            run = runs[variant] = _launch(args, variant, k, args.threads)
            if run is None:
                return 1
            _print_row(k, variant, run, runs.get("reference"))
        if "reference" in runs and "exact" in runs:
            failed |= runs["exact"]["tokens"] != runs["reference"]["tokens"]
            if args.bound:
                _print_bound(args, k, runs["reference"])
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
