"""What the modality of an input changes in the decoding: the prompt, the beams, and the classifier.

Audio and text-only generation continue ``prompt`` ("Audio of a") with ``beam_size`` beams,
steered by ``models.classifier`` towards ``wanted_label`` with weight ``lambda_cls``. Images,
and videos guided by their frames, continue ``image_prompt`` ("Image of a") with
``image_beam_size`` beams, steered by ``models.image_classifier`` towards
``image_wanted_label`` with weight ``image_lambda_cls`` (each ``null`` falls back to the
audio value).

A video guided by both its frames and its sound track follows the image rule for all of
these, the classifier included, rather than a mean of both classifiers' probabilities:
the candidates it scores start with the image prompt, which is what the image classifier
was trained to read; and when both modalities use one classifier with opposite labels
(e.g. audible for sound, not audible for pictures) the mean of P(audible) and
P(not audible) is 0.5 for every text, so it would steer nothing while costing a classifier
call per candidate.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from cgcap.config import DecodingSettings, ModelSettings

GuideRule = Literal["audio", "image"]


class ClassifierGuide(BaseModel):
    """Which classifier steered a caption, towards which label and how strongly; recorded with every result."""

    rule: GuideRule  # whose per-modality settings applied: "image" for images and frame-guided videos
    classifier: str  # model spec
    wanted_label: int
    weight: float  # λ1 (or w·λ_mod for the additive form)


def guide_rule(guiding: list[str]) -> GuideRule:
    """The image rule whenever frames guide the caption; the audio rule for sound and text-only."""
    return "image" if "image" in guiding else "audio"


def classifier_specs(models: ModelSettings) -> dict[GuideRule, str]:
    """The classifier each rule uses: ``{"audio": ..., "image": ...}``."""
    return {"audio": models.classifier, "image": models.image_classifier or models.classifier}


def settings_for_modalities(decoding: DecodingSettings, guiding: list[str]) -> DecodingSettings:
    """``decoding`` with the prompt, beams, λ1 and wanted label of the modalities that guide this caption."""
    if guide_rule(guiding) != "image":
        return decoding
    update = {"prompt": decoding.image_prompt, "beam_size": decoding.image_beam_size}
    if decoding.image_lambda_cls is not None:
        update["lambda_cls"] = decoding.image_lambda_cls
    if decoding.image_wanted_label is not None:
        update["wanted_label"] = decoding.image_wanted_label
    return decoding.model_copy(update=update)


def guide_for(
    decoding: DecodingSettings, classifiers: dict[GuideRule, str], guiding: list[str], chosen: str | None = None
) -> tuple[DecodingSettings, ClassifierGuide | None]:
    """The decoding settings of this input's modality and the classifier that steers it.

    ``chosen`` (a request's own classifier) replaces the modality's. The guide is None when the
    classifier does not count (λ1 = 0 for this modality): then no classifier is loaded or called.
    This is the one rule the CLI, the jobs and the service share.
    """
    decoding = settings_for_modalities(decoding, guiding)
    if decoding.classifier_weight <= 0:
        return decoding, None
    rule = guide_rule(guiding)
    return decoding, ClassifierGuide(rule=rule, classifier=chosen or classifiers[rule],
                                     wanted_label=decoding.wanted_label, weight=decoding.classifier_weight)


def classifiers_in_use(decoding: DecodingSettings, models: ModelSettings) -> dict[GuideRule, str]:
    """The classifier of each rule whose λ1 is above 0: what a replica or a job must load up front."""
    specs = classifier_specs(models)
    used = {}
    for rule, guiding in (("audio", ["audio"]), ("image", ["image"])):
        _, guide = guide_for(decoding, specs, guiding)
        if guide is not None:
            used[rule] = guide.classifier
    return used


def without_prompt(caption: str, prompt: str | None) -> str:
    """The words the decoder wrote, as compared with reference captions."""
    return split_prompt(caption, prompt)[1]


# The prompt ends in "a" whatever comes next, so the caption is first written "Audio of a alarm".
# The vowel letters whose word starts with a consonant sound, and the h that is silent:
_A_BEFORE = ("uni", "use", "usu", "uti", "ura", "ure", "uri", "uro", "eu", "ewe", "one", "once", "ubiq", "uku", "uvu")
_UN_BEFORE = ("unin", "unim", "unid")  # "an uninvited", "an unidentified": un- before a consonant sound
_SILENT_H = ("hour", "honest", "honor", "honour", "heir")
_VOWEL_SOUND_LETTERS = set("AEFHILMNORSX")  # spelt-out letters that start with a vowel: "an MRI", "an X-ray"


def indefinite_article(word: str) -> str:
    """``a`` or ``an`` before ``word``, by how it is said (inflect's rules in brief; inflect itself takes
    1.3 s to import)."""
    word = word.lstrip("\"'(-")
    if not word:
        return "a"
    lower = word.lower()
    if len(word) > 1 and word.isupper() and word.isalpha():  # an acronym, spelt out
        return "an" if word[0] in _VOWEL_SOUND_LETTERS else "a"
    if lower[0] == "8" or lower.startswith(_SILENT_H):
        return "an"
    if lower[0] in "aeiou":
        return "a" if lower.startswith(_A_BEFORE) and not lower.startswith(_UN_BEFORE) else "an"
    return "a"


def _prompt_with_an(prompt: str) -> str | None:
    """The prompt with its final "a" written "an" ("Audio of an"); None if it does not end in "a"."""
    head, _, last = prompt.rpartition(" ")
    if last not in ("a", "A"):
        return None
    return (f"{head} " if head else "") + ("An" if last == "A" else "an")


def split_prompt(caption: str, prompt: str | None) -> tuple[str, str]:
    """(the prompt as the caption writes it, the words the decoder wrote).

    The prompt's last word "a" may have been written "an" (``with_article``)."""
    if not prompt:
        return "", caption.strip()
    written = _prompt_with_an(prompt)
    if written and caption.startswith(written) and not caption[len(written):len(written) + 1].isalpha():
        return written, caption[len(written):].strip()
    if caption.startswith(prompt):
        return prompt, caption[len(prompt):].strip()
    return "", caption.strip()


def with_article(caption: str, prompt: str | None) -> str:
    """``caption`` with the prompt's final "a" written "an" where the next word starts with a vowel sound
    ("Audio of an alarm clock."); unchanged otherwise."""
    if not prompt or not caption.startswith(prompt + " "):
        return caption
    written, rest = _prompt_with_an(prompt), caption[len(prompt):]
    words = rest.split()
    if written is None or not words or indefinite_article(words[0]) == "a":
        return caption
    return written + rest
