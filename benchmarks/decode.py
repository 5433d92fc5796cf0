"""Seconds per token and peak memory: the optimised GuidedDecoder against the reference loop.

Both caption the same input with the same settings (SmolLM2-135M, the tiny CLAP encoder
on a synthetic two-second clip, the MiniLM classifier, beam 1, 5 iterations) at k = 512
and k = 64; the script checks that they write identical tokens and prints the ratio.
Each run is a separate process so its peak resident memory is its own.

    python benchmarks/decode.py                 # k = 512 and 64, 5 tokens
    python benchmarks/decode.py --k 64 --tokens 8 --device cuda
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]


def run_one(variant: str, k: int, tokens: int, iterations: int, device: str, text_only: bool, threads: int | None,
            repeats: int) -> dict:
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

    lm = load("smollm2-135m", device=device)
    torch.manual_seed(0)  # minilm-l6's 2-label head is freshly initialised: the same head in both processes
    classifier = TextClassifier.load("minilm-l6", device=device)
    modality = None
    if not text_only:
        rng = np.random.default_rng(0)
        clip = (0.1 * rng.standard_normal(32000)).astype(np.float32)
        media = DecodedMedia(modality="audio", format="wav", audio=clip, sample_rate=16000, duration_seconds=2.0)
        modality = input_scorer(media, {"audio": load_encoder("tiny:clap", device=device)})
    # max_tokens is a ceiling: the end token may come sooner, and both runs stop at the same place.
    settings = DecodingSettings(top_k=k, num_iterations=iterations, max_tokens=tokens, beam_size=1)
    decoder = GuidedDecoder(lm, settings)
    rss_loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()

    reference = ReferenceDecoder(lm.model, lm.tokenizer, settings, decoder.forbidden_ids.tolist(),
                                 decoder.end_token_id, decoder.vocabulary.start_token_id())
    seconds = cpu_seconds = float("inf")
    for _ in range(repeats):  # the best of the repeats: other processes on a shared machine only add time
        started, cpu_started = time.perf_counter(), time.process_time()
        if variant == "optimised":
            result = decoder.caption(modality, classifier)
            beam_tokens, caption = result.beams[0].tokens, result.caption
            scoring = result.timings["scoring"]
        else:
            best = reference.caption(modality, classifier)[0]
            beam_tokens, caption, scoring = best.tokens, best.text, None
        seconds = min(seconds, time.perf_counter() - started)
        cpu_seconds = min(cpu_seconds, time.process_time() - cpu_started)
    out = {
        "variant": variant, "k": k, "tokens": beam_tokens, "caption": caption, "seconds": seconds,
        "seconds_per_token": seconds / len(beam_tokens), "scoring_seconds": scoring,
        "cpu_seconds_per_token": cpu_seconds / len(beam_tokens),
        "rss_after_load_mib": rss_loaded, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda"):
        out["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        out["gpu"] = torch.cuda.get_device_name()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="+", default=[512, 64])
    parser.add_argument("--tokens", type=int, default=5, help="tokens per caption (at most)")
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--text-only", action="store_true", help="no modality scorer (the docs/ALGORITHM.md baseline)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=1, help="captions per run; the fastest is reported")
    parser.add_argument("--one", choices=["optimised", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.one:
        print(json.dumps(run_one(args.one, args.k[0], args.tokens, args.iterations, args.device, args.text_only,
                                 args.threads, args.repeats)))
        return 0

    mode = "text-only" if args.text_only else "tiny CLAP modality scorer"
    print(f"SmolLM2-135M + MiniLM classifier + {mode}; beam 1, {args.iterations} iterations, "
          f"up to {args.tokens} tokens, device {args.device}, {os.cpu_count()} CPUs, "
          f"torch threads {args.threads or 'default'}, best of {args.repeats}; load average {os.getloadavg()[0]:.1f}")
    print(f"{'k':>5} {'variant':>10} {'s/token':>9} {'CPU s/token':>12} {'scoring s':>10} {'peak RSS MiB':>13}  caption")
    failed = False
    for k in args.k:
        runs = {}
        for variant in ("optimised", "reference"):
            command = [sys.executable, __file__, "--one", variant, "--k", str(k), "--tokens", str(args.tokens),
                       "--iterations", str(args.iterations), "--device", args.device]
            if args.text_only:
                command.append("--text-only")
            if args.threads:
                command += ["--threads", str(args.threads)]
            command += ["--repeats", str(args.repeats)]
            done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                return 1
            run = runs[variant] = json.loads(done.stdout.strip().splitlines()[-1])
            scoring = f"{run['scoring_seconds']:.2f}" if run["scoring_seconds"] is not None else "-"
            extra = f" (CUDA peak {run['cuda_peak_mib']:.0f} MiB)" if "cuda_peak_mib" in run else ""
            print(f"{k:>5} {variant:>10} {run['seconds_per_token']:>9.3f} {run['cpu_seconds_per_token']:>12.3f} {scoring:>10} "
                  f"{run['peak_rss_mib']:>13.0f}  {run['caption']!r}{extra}", flush=True)
        same = runs["optimised"]["tokens"] == runs["reference"]["tokens"]
        ratio = runs["reference"]["seconds_per_token"] / runs["optimised"]["seconds_per_token"]
        print(f"{k:>5} {'ratio':>10} {ratio:>8.2f}x  identical tokens: {same}", flush=True)
        failed |= not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
