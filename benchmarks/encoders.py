"""Media decoding and modality-encoder speed: what one caption's modality guidance costs.

    python benchmarks/encoders.py [--shape tiny|paper] [--device cpu|cuda] [--repeats 3]

``--shape paper`` builds the paper's architectures with random weights (speed does not
depend on the weights, and no hub is needed): CLAP HTS-AT + RoBERTa at 48 kHz with 10 s
windows, and open_clip ViT-B-32. Its CLAP tokenizer is byte-level, so its text
sequences are about 4x longer than RoBERTa's BPE: text figures for CLAP are pessimistic.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import cgcap  # noqa: E402,F401  (no hub by default, before transformers loads: docs/OFFLINE.md)

import numpy as np  # noqa: E402


def best_of(repeats: int, work) -> float:
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        seconds.append(time.perf_counter() - start)
    return min(seconds)


def paper_shape_encoders(device: str):
    import open_clip
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    from cgcap.encoders import ClapAudioEncoder, OpenClipImageEncoder
    from cgcap.models import LoadedModel
    from cgcap.models.tiny_encoders import roberta_byte_tokenizer

    torch.manual_seed(0)
    clap = ClapModel(ClapConfig()).eval()  # laion/clap-htsat-unfused's architecture
    processor = ClapProcessor(feature_extractor=ClapFeatureExtractor(truncation="rand_trunc"),
                              tokenizer=roberta_byte_tokenizer())
    audio = ClapAudioEncoder(LoadedModel("paper-shape CLAP", "clap", clap, processor=processor), device=device)
    clip, _, preprocess = open_clip.create_model_and_transforms("ViT-B-32", pretrained=None)
    image = OpenClipImageEncoder(
        LoadedModel("paper-shape ViT-B-32", "clip", clip.eval(), tokenizer=open_clip.get_tokenizer("ViT-B-32"),
                    processor=preprocess), device=device)
    return audio, image


def candidate_texts(count: int) -> list[str]:
    words = "dog cat bell rain engine bird crowd water wind door music voice car train baby siren".split()
    return [f"Audio of a {words[i % len(words)]} {words[(i * 7) % len(words)]}{i}" for i in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=["tiny", "paper"], default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import skimage.data
    import torch
    from PIL import Image

    from cgcap.config import LimitSettings
    from cgcap.data.media import decode_media
    from cgcap.data.media_synth import audio_bytes, image_bytes, ramp_frames, tone, video_bytes
    from cgcap.encoders import load_encoder

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"threads {torch.get_num_threads()}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    limits = LimitSettings()

    print("\n-- decode_media (best of %d)" % args.repeats)
    clip30 = tone(440, 30.0, 48_000) + tone(1234, 30.0, 48_000, 0.1)
    photo_12mp = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((4000, 3000)))
    inputs = {
        "wav 30 s 48 kHz": audio_bytes(clip30, 48_000, "wav"),
        "flac 30 s 48 kHz": audio_bytes(clip30, 48_000, "flac"),
        "mp3 30 s 48 kHz": audio_bytes(clip30, 48_000, "mp3"),
        "jpeg 12 MP (4000x3000)": image_bytes(photo_12mp, "jpeg"),
        "png 0.1 MP (chelsea)": image_bytes(skimage.data.chelsea(), "png"),
        "mp4 10 s 640x360 h264 + aac, 8 frames": video_bytes(ramp_frames(100, 640, 360), fps=10,
                                                             audio=tone(440, 10.0, 48_000), audio_rate=48_000),
    }
    decoded = {}
    for name, data in inputs.items():
        seconds = best_of(args.repeats, lambda: decode_media(data, limits))
        decoded[name] = decode_media(data, limits)
        print(f"{name:42} {len(data) / 1e6:6.2f} MB  {seconds * 1000:8.1f} ms")

    if args.shape == "paper":
        audio, image = paper_shape_encoders(args.device)
    else:
        audio, image = load_encoder("tiny:clap", args.device), load_encoder("tiny:clip", args.device)
    print(f"\n-- encoders: {audio.spec} (window {audio.window_seconds:g} s at {audio.sample_rate} Hz), {image.spec}; "
          f"dtype {audio.dtype}")

    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def timed(work):
        def run():
            work()
            sync()
        run()  # warm-up (kernels, allocator)
        return best_of(args.repeats, run)

    for name in ("wav 30 s 48 kHz",):
        media = decoded[name]
        short = decode_media(audio_bytes(clip30[: audio.window_samples * 48_000 // audio.sample_rate], 48_000, "wav"))
        print(f"embed_input audio, one window ({audio.window_seconds:g} s)   {timed(lambda: audio.embed_input(short)) * 1000:8.1f} ms")
        windows = int(np.ceil(30 / audio.window_seconds))
        print(f"embed_input audio, 30 s ({windows} windows)        {timed(lambda: audio.embed_input(media)) * 1000:8.1f} ms")
    print(f"embed_input image, 12 MP jpeg                {timed(lambda: image.embed_input(decoded['jpeg 12 MP (4000x3000)'])) * 1000:8.1f} ms")
    video = decoded["mp4 10 s 640x360 h264 + aac, 8 frames"]
    print(f"embed_input video frames (8)                 {timed(lambda: image.embed_input(video)) * 1000:8.1f} ms")

    print("\n-- embed_texts: candidate texts per step (k = top_k)")
    for k in (64, 512):
        texts = candidate_texts(k)
        for encoder in (audio, image):
            seconds = timed(lambda: encoder.embed_texts(texts))
            print(f"{encoder.modality:5} k={k:4}: {seconds * 1000:8.1f} ms  ({k / seconds:8.0f} texts/s)")
    lengths = [len(audio.tokenizer(t)["input_ids"]) for t in candidate_texts(64)]
    print(f"(CLAP text length: mean {statistics.mean(lengths):.0f} tokens)")


if __name__ == "__main__":
    main()
