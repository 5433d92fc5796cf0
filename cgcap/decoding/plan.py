"""Which scorers guide one caption, and what the input's modality changes: decided here for the CLI, the
jobs and the service alike.

The classifier counts when its weight in the loss is positive (λ1, or w·λ_mod for the
2023 additive form, ``DecodingSettings.classifier_weight``); an encoder counts when the
input has its modality and λ_mod is positive.

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

from dataclasses import dataclass
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


@dataclass(frozen=True)
class GuidancePlan:
    decoding: DecodingSettings  # with the prompt and beam count of the guiding modalities
    encoders: tuple[str, ...]  # modalities whose encoder scores candidates: () for text-only or λ_mod = 0
    guide: ClassifierGuide | None  # the classifier that steers, towards which label; None: no classifier is loaded

    @property
    def classifier(self) -> bool:
        return self.guide is not None


def uses_classifier(decoding: DecodingSettings) -> bool:
    """Whether the classifier scores candidates; when False it is never loaded or called."""
    return decoding.classifier_weight > 0


def uses_encoders(decoding: DecodingSettings) -> bool:
    """Whether the input's encoders score candidates (plain classifier + fluency guidance when False)."""
    return decoding.lambda_modality > 0


def plan_guidance(decoding: DecodingSettings, guiding: list[str] | tuple[str, ...] = (),
                  models: ModelSettings | None = None, chosen: str | None = None) -> GuidancePlan:
    """The plan for an input whose ``guiding`` modalities are known (``encoders.guiding_modalities``).

    The modality's classifier comes from ``models`` (per modality, ``guide_for``); ``chosen``
    (a request's own classifier) replaces it.
    """
    decoding, guide = guide_for(decoding, classifier_specs(models or ModelSettings()), list(guiding), chosen)
    encoders = tuple(guiding) if uses_encoders(decoding) else ()
    return GuidancePlan(decoding=decoding, encoders=encoders, guide=guide)


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
    """
    decoding = settings_for_modalities(decoding, guiding)
    if not uses_classifier(decoding):
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
