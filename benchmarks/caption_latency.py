"""End-to-end seconds of one caption once the models are loaded: a 5 s clip and a photo.

Loads a profile's Captioner, captions each input once to load and warm every model (the
first run's one-off preparation included), then times ``--repeats`` captions and prints
the fastest, with its parts (decoding the file, embedding the input, the decoder and its
scorers). ``--set`` overrides apply as in the CLI, e.g. ``--set decoding.speed=fast``.

    python benchmarks/caption_latency.py                       # offline profile, exact
    python benchmarks/caption_latency.py --set decoding.speed=fast --threads 1
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def five_second_clip() -> bytes:
    """The packaged bell, padded with its own tail of silence to 5 s, as WAV bytes."""
    import numpy as np
    import soundfile

    audio, rate = soundfile.read(ROOT / "cgcap" / "samples" / "bell.flac", dtype="float32", always_2d=False)
    audio = np.pad(audio, (0, max(0, 5 * rate - len(audio))))[: 5 * rate]
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format="WAV")
    return buffer.getvalue()


def main() -> None:
    import torch

    from cgcap.captioner import Captioner
    from cgcap.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="offline")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = load_settings(args.profile, overrides=args.overrides)
    captioner = Captioner.from_settings(settings)
    inputs = {"5 s clip": (five_second_clip(), "bell_5s.wav"),
              "photo": ((ROOT / "cgcap" / "samples" / "chelsea.jpg").read_bytes(), "chelsea.jpg")}
    for name, (data, filename) in inputs.items():
        captioner.caption(data, filename=filename)  # loads and warms this modality's models
        best, cpu_best = None, float("inf")
        for _ in range(args.repeats):
            cpu_started = time.process_time()
            result = captioner.caption(data, filename=filename)
            cpu_best = min(cpu_best, time.process_time() - cpu_started)
            if best is None or result.timings["total"] < best.timings["total"]:
                best = result
        timings = {key: round(value, 3) for key, value in best.timings.items()}
        print(json.dumps({"input": name, "profile": args.profile, "overrides": args.overrides,
                          "threads": torch.get_num_threads(), "seconds": timings["total"],
                          "cpu_seconds": round(cpu_best, 3), "timings": timings, "caption": best.caption,
                          "load_average": round(os.getloadavg()[0], 1)}), flush=True)


if __name__ == "__main__":
    main()
