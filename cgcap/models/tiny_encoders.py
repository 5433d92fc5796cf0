"""Tiny random CLAP and CLIP, seeded, for tests and the offline profile (no hub has them here).

``tiny:clap`` is a transformers ClapModel with a real ClapProcessor: a byte-level
RoBERTa-style tokenizer built in code, and a feature extractor at 16 kHz with 2 s
windows so long-clip handling is exercised on short test clips. ``tiny:clip`` is an
open_clip CLIP built by open_clip's own factory from ``configs/cgcap-tiny-clip.json``,
with open_clip's SimpleTokenizer (its vocabulary ships inside open_clip).
"""

from __future__ import annotations

import contextlib
import logging
from functools import lru_cache
from pathlib import Path

from cgcap.models.store import LoadedModel
from cgcap.models.tiny import build_seeded

OPEN_CLIP_CONFIGS = Path(__file__).parent / "configs"
TINY_CLIP_ARCH = "cgcap-tiny-clip"

# RoBERTa's special tokens in RoBERTa's order, so pad is id 1 as ClapTextConfig expects.
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
TINY_CLAP_RATE = 16_000
TINY_CLAP_WINDOW_SECONDS = 2


def register_open_clip_configs() -> None:
    """Make this project's open_clip architectures known to open_clip (idempotent)."""
    import open_clip

    if TINY_CLIP_ARCH not in open_clip.list_models():
        open_clip.add_model_config(OPEN_CLIP_CONFIGS)


@lru_cache(maxsize=1)
def _roberta_byte_vocab() -> dict[str, int]:
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {token: index for index, token in enumerate(ROBERTA_SPECIALS)}
    for symbol in sorted(ByteLevel.alphabet()):
        vocab[symbol] = len(vocab)
    return vocab


def roberta_byte_tokenizer():
    """A RobertaTokenizer over single bytes (no merges): ``<s> text </s>``, pad id 1."""
    from transformers import RobertaTokenizer

    tokenizer = RobertaTokenizer(vocab=dict(_roberta_byte_vocab()), merges=[])
    tokenizer.model_max_length = 128
    return tokenizer


def tiny_clap(spec: str, seed: int) -> LoadedModel:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor

    tokenizer = roberta_byte_tokenizer()
    features = ClapFeatureExtractor(
        feature_size=16, sampling_rate=TINY_CLAP_RATE, hop_length=160, fft_window_size=400,
        max_length_s=TINY_CLAP_WINDOW_SECONDS, frequency_max=8_000, truncation="rand_trunc", padding="repeatpad",
    )
    config = ClapConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=tokenizer.model_max_length + 2,
                         pad_token_id=1, bos_token_id=0, eos_token_id=2),
        audio_config=dict(num_mel_bins=16, spec_size=64, window_size=4, patch_size=4, patch_stride=(4, 4),
                          hidden_size=32, depths=[1, 1], num_attention_heads=[2, 2], patch_embeds_hidden_size=16),
        projection_dim=16,
    )
    model = build_seeded(lambda: ClapModel(config), seed).eval()
    processor = ClapProcessor(feature_extractor=features, tokenizer=tokenizer)
    return LoadedModel(spec, "clap", model, tokenizer=tokenizer, processor=processor, source=f"random, seed {seed}")


@contextlib.contextmanager
def _without_open_clip_chatter():
    """open_clip logs each build step (and "no pretrained weights", which is the point of a
    random model) on the root logger; the CLI would print all of it before every caption."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


@lru_cache(maxsize=1)
def _open_clip_tokenizer():
    import open_clip

    register_open_clip_configs()
    with _without_open_clip_chatter():
        return open_clip.get_tokenizer(TINY_CLIP_ARCH)


def tiny_clip(spec: str, seed: int) -> LoadedModel:
    import open_clip

    register_open_clip_configs()
    with _without_open_clip_chatter():
        model, _, preprocess = build_seeded(
            lambda: open_clip.create_model_and_transforms(TINY_CLIP_ARCH, pretrained=None), seed
        )
    model.eval()
    return LoadedModel(spec, "clip", model, tokenizer=_open_clip_tokenizer(), processor=preprocess,
                       source=f"random, seed {seed}", extra={"arch": TINY_CLIP_ARCH})
