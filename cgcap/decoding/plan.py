"""Which scorers guide one caption: the one rule the CLI, the jobs and the service share.

The classifier counts when its weight in the loss is positive (λ1, or w·λ_mod for the
2023 additive form, ``DecodingSettings.classifier_weight``); an encoder counts when the
input has its modality and λ_mod is positive. Images and video frames also switch the
prompt and the beam count (``settings_for_modalities``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cgcap.config import DecodingSettings, ModelSettings
from cgcap.decoding.prompts import ClassifierGuide, classifier_specs, guide_for


def classifier_counts(decoding: DecodingSettings) -> bool:
    """Whether the classifier scores candidates; when False it is never loaded or called."""
    return decoding.classifier_weight > 0


def modality_counts(decoding: DecodingSettings) -> bool:
    """Whether the input's encoders score candidates (plain classifier + fluency guidance when False)."""
    return decoding.lambda_modality > 0


@dataclass(frozen=True)
class GuidancePlan:
    decoding: DecodingSettings  # with the prompt and beam count of the guiding modalities
    encoders: tuple[str, ...]  # modalities whose encoder scores candidates: () for text-only or λ_mod = 0
    guide: ClassifierGuide | None  # the classifier that steers, towards which label; None: no classifier is loaded

    @property
    def classifier(self) -> bool:
        return self.guide is not None


def plan_guidance(decoding: DecodingSettings, guiding: list[str] | tuple[str, ...] = (),
                  models: ModelSettings | None = None, chosen: str | None = None) -> GuidancePlan:
    """The plan for an input whose ``guiding`` modalities are known (``encoders.guiding_modalities``).

    The modality's classifier comes from ``models`` (per modality, ``prompts.guide_for``); ``chosen``
    (a request's own classifier) replaces it.
    """
    decoding, guide = guide_for(decoding, classifier_specs(models or ModelSettings()), list(guiding), chosen)
    encoders = tuple(guiding) if modality_counts(decoding) else ()
    return GuidancePlan(decoding=decoding, encoders=encoders, guide=guide)
