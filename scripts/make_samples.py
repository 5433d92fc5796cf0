"""Makes the sample media bundled in cgcap/samples (run from the repository root).

- chelsea.jpg: scikit-image's "Chelsea the cat" (CC0, Stefan van der Walt), as is.
- bell.flac: a bell struck twice, synthesised here (inharmonic partials with
  exponential decay, as a struck bell sounds), so it carries no third-party rights.
  Its pitch (D5) and decays were chosen so that the offline audio tagger (YAMNet) hears
  "Bell" first: a lower, shorter bell reads to it as an electric piano.
- cat_bell.mp4: a slow zoom into chelsea.jpg with bell.flac as its sound track.

Usage: python scripts/make_samples.py [--out cgcap/samples]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from cgcap.data.media_synth import audio_bytes, image_bytes, video_bytes

RATE = 22_050
# Partials of a church bell relative to its strike note: hum, prime, tierce, quint, nominal, ...
BELL_PARTIALS = [(0.5, 0.6, 4.0), (1.0, 1.0, 3.0), (1.19, 0.5, 2.5), (1.5, 0.35, 2.0), (2.0, 0.6, 1.75),
                 (2.5, 0.25, 1.25), (3.0, 0.2, 1.0), (4.2, 0.12, 0.75)]  # (ratio, amplitude, decay seconds)


def bell(seconds: float = 4.0, strike_hz: float = 587.0, strikes: tuple[float, ...] = (0.0, 2.0)) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    out = np.zeros_like(t)
    for start in strikes:
        since = np.clip(t - start, 0, None)
        struck = t >= start
        # A 5 ms attack: an instant onset clicks, which reads as a knock rather than a bell.
        attack = np.clip(since / 0.005, 0, 1)
        for ratio, amplitude, decay in BELL_PARTIALS:
            out += struck * attack * amplitude * np.exp(-since / decay) * np.sin(2 * np.pi * strike_hz * ratio * since)
    return (0.5 * out / np.max(np.abs(out))).astype(np.float32)


def zoom_frames(photo: np.ndarray, count: int, size: tuple[int, int] = (320, 212)) -> list[np.ndarray]:
    from PIL import Image

    height, width = photo.shape[:2]
    picture = Image.fromarray(photo)
    frames = []
    for index in range(count):
        scale = 1.0 - 0.3 * index / max(count - 1, 1)
        w, h = int(width * scale), int(height * scale)
        left, top = (width - w) // 2, (height - h) // 2
        frames.append(np.asarray(picture.crop((left, top, left + w, top + h)).resize(size, Image.BICUBIC)))
    return frames


def main() -> None:
    import skimage.data

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="cgcap/samples")
    out = Path(parser.parse_args().out)
    out.mkdir(parents=True, exist_ok=True)

    photo = skimage.data.chelsea()
    sound = bell()
    files = {
        "chelsea.jpg": image_bytes(photo, "jpeg", quality=85),
        "bell.flac": audio_bytes(sound, RATE, "flac"),
        "cat_bell.mp4": video_bytes(zoom_frames(photo, 40), fps=10, audio=sound, audio_rate=RATE),
    }
    for name, data in files.items():
        (out / name).write_bytes(data)
        print(f"{out / name}: {len(data):,} bytes")


if __name__ == "__main__":
    main()
