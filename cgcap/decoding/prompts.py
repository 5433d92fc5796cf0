"""Which prompt a caption continues: "Audio of a" for sound, "Image of a" for pictures (the papers')."""

from __future__ import annotations

from cgcap.config import DecodingSettings


def settings_for_modalities(decoding: DecodingSettings, guiding: list[str]) -> DecodingSettings:
    """``decoding`` with the prompt and beam count of the modalities that guide this caption.

    Images, and videos guided by their frames, continue ``image_prompt`` with
    ``image_beam_size`` beams; audio and text-only generation use ``prompt`` and ``beam_size``.
    """
    if "image" not in guiding:
        return decoding
    return decoding.model_copy(update={"prompt": decoding.image_prompt, "beam_size": decoding.image_beam_size})


def without_prompt(caption: str, prompt: str | None) -> str:
    """The words the decoder wrote, as compared with reference captions."""
    if prompt and caption.startswith(prompt):
        return caption[len(prompt):].strip()
    return caption.strip()
