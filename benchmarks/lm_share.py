"""The language model's share of a token: forward passes, backward passes, the rest (loss, Δ update).

Captions with free scorers (every candidate scores 0, instantly), so what is left is the
decoder's floor: SmolLM2-135M's passes plus the loop's own work. Prints seconds per token.

    python benchmarks/lm_share.py --k 512 --tokens 6 --threads 1 2
"""

from __future__ import annotations

import argparse
import json
import os
import time

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)


class FreeScorer:
    def score(self, texts: list[str]):
        import torch

        return torch.zeros(len(texts))


def measure(k: int, tokens: int, iterations: int, threads: int | None, speed: str) -> dict:
    import torch

    from cgcap.config import DecodingSettings
    from cgcap.decoding import GuidedDecoder
    from cgcap.models import load

    if threads:
        torch.set_num_threads(threads)
    lm = load("smollm2-135m")
    spent = {"forward_with_graph": 0.0, "forward_no_grad": 0.0, "backward": 0.0}
    counts = {"forward_with_graph": 0, "forward_no_grad": 0, "backward": 0}
    forward, grad = lm.model.forward, torch.autograd.grad

    def timed_forward(*args, **kwargs):
        started = time.perf_counter()
        out = forward(*args, **kwargs)
        key = "forward_with_graph" if torch.is_grad_enabled() else "forward_no_grad"
        spent[key] += time.perf_counter() - started
        counts[key] += 1
        return out

    def timed_grad(*args, **kwargs):
        started = time.perf_counter()
        out = grad(*args, **kwargs)
        spent["backward"] += time.perf_counter() - started
        counts["backward"] += 1
        return out

    lm.model.forward, torch.autograd.grad = timed_forward, timed_grad
    settings = DecodingSettings(top_k=k, num_iterations=iterations, max_tokens=tokens, speed=speed)
    decoder = GuidedDecoder(lm, settings)
    decoder.caption(FreeScorer(), FreeScorer())  # warm-up
    spent.update({key: 0.0 for key in spent})
    counts.update({key: 0 for key in counts})
    started, cpu_started = time.perf_counter(), time.process_time()
    result = decoder.caption(FreeScorer(), FreeScorer())
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    torch.autograd.grad = grad
    n = len(result.beams[0].tokens)
    rest = seconds - sum(spent.values())
    return {"k": k, "speed": speed, "threads": torch.get_num_threads(), "tokens": n,
            "seconds_per_token": round(seconds / n, 4), "cpu_seconds_per_token": round(cpu / n, 4),
            **{f"{key}_s_per_token": round(value / n, 4) for key, value in spent.items()},
            **{f"{key}_per_token": round(value / n, 2) for key, value in counts.items()},
            "rest_s_per_token": round(rest / n, 4), "load_average": round(os.getloadavg()[0], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=512)
    parser.add_argument("--tokens", type=int, default=6)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[0], help="0: torch's default")
    parser.add_argument("--speed", choices=["exact", "fast"], default="exact")
    args = parser.parse_args()
    for threads in args.threads:
        print(json.dumps(measure(args.k, args.tokens, args.iterations, threads or None, args.speed)), flush=True)


if __name__ == "__main__":
    main()
