"""Which prompt a caption continues: "Audio of a" for sound, "Image of a" for pictures (the papers')."""

from __future__ import annotations

from cgcap.config import DecodingSettings


def settings_for_modalities(decoding: DecodingSettings, guiding: list[str]) -> DecodingSettings:
    """``decoding`` with ``prompt`` set for the modalities that guide this caption.

    Images, and videos guided by their frames, continue ``image_prompt``; audio and
    text-only generation continue ``prompt``.
    """
    if "image" not in guiding or decoding.image_prompt == decoding.prompt:
        return decoding
    return decoding.model_copy(update={"prompt": decoding.image_prompt})


def without_prompt(caption: str, prompt: str | None) -> str:
    """The words the decoder wrote, as compared with reference captions."""
    if prompt and caption.startswith(prompt):
        return caption[len(prompt):].strip()
    return caption.strip()
