"""New labelled sentences from any OpenAI-compatible chat endpoint (``cgcap classifier generate-data``).

The audibility set was written by GPT-4 from prompts asking for sentences that can
and cannot be heard (arXiv 2309.03884). These prompts follow them, and each request
names a different theme so that the sentences vary. The ``visual`` recipe is the same
recipe turned to images: label 1 is something that can be seen (a sight, an object, a
scene, a colour), label 0 something that cannot (a sound, a smell, a taste, a feeling,
an idea), which trains the ``visual-classifier`` that steers image captions. Replies are split into
sentences, cleaned, and kept only if they are new: not in the existing data, not
already generated, and not generated for both classes.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from pydantic import BaseModel, Field

from cgcap.classifier.data import MAX_SENTENCE_CHARS, DatasetError, read_sentences

log = logging.getLogger(__name__)

BASE_URL_ENV, MODEL_ENV, API_KEY_ENV = "CGCAP_LLM_BASE_URL", "CGCAP_LLM_MODEL", "CGCAP_LLM_API_KEY"

THEMES = [
    "animals", "machines and tools", "people and voices", "weather and nature", "music and instruments",
    "vehicles and traffic", "the kitchen and household", "sports and games", "cities and streets",
    "water, rivers and the sea", "work and offices", "celebrations and crowds",
]

# recipe -> label -> prompt. Label 1 is the property the decoder steers towards by default.
RECIPES = {
    "audibility": {
        1: ("Write {n} different short sentences, one per line, each describing something that can be heard: "
            "a sound and what makes it, like \"The buzz of a chainsaw cutting wood.\" Theme: {theme}. "
            "Vary the sources and the wording. Write only the sentences, without numbering."),
        0: ("Write {n} different short sentences, one per line, each describing something that cannot be heard: "
            "a sight, an object or a state that makes no sound, like \"Frosted window obscures view but allows "
            "light.\" Theme: {theme}. Vary the subjects and the wording. Write only the sentences, without numbering."),
    },
    "visual": {
        1: ("Write {n} different short sentences, one per line, each describing something that can be seen in a "
            "photograph: objects, people or animals, their colours, shapes and places, like \"A red kite hangs "
            "above a green hill.\" Theme: {theme}. Vary the subjects and the wording. Write only the sentences, "
            "without numbering."),
        0: ("Write {n} different short sentences, one per line, each describing something that cannot be seen: "
            "a sound, a smell, a taste, a feeling or an idea, like \"The distant hum of a refrigerator at "
            "night.\" Theme: {theme}. Vary the subjects and the wording. Write only the sentences, without "
            "numbering."),
    },
}

_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s*")


class GenerationError(RuntimeError):
    """The endpoint could not be reached or answered something unusable; the message says which."""


class EndpointSettings(BaseModel):
    base_url: str = Field(min_length=1)
    model: str = Field(min_length=1)
    api_key: str | None = None
    timeout_seconds: float = 120.0

    @classmethod
    def from_environment(cls) -> "EndpointSettings":
        missing = [name for name in (BASE_URL_ENV, MODEL_ENV) if not os.environ.get(name)]
        if missing:
            raise GenerationError(
                f"set {' and '.join(missing)}: the OpenAI-compatible endpoint (e.g. {BASE_URL_ENV}="
                f"https://api.openai.com/v1, {MODEL_ENV}=gpt-4o-mini) and, if it needs one, {API_KEY_ENV}"
            )
        return cls(base_url=os.environ[BASE_URL_ENV], model=os.environ[MODEL_ENV],
                   api_key=os.environ.get(API_KEY_ENV) or None)


class GenerationReport(BaseModel):
    requested_per_class: int
    written: dict[str, int]  # "positives"/"negatives" -> new sentences appended
    rejected_duplicates: int
    rejected_conflicts: int
    requests: int


def sentence_key(sentence: str) -> str:
    """Two sentences are the same if they differ only in case and spacing."""
    return " ".join(sentence.lower().split())


def parse_reply(reply: str) -> list[str]:
    """One sentence a line; list markers, quotes and blank lines removed."""
    sentences = []
    for line in reply.splitlines():
        line = _LIST_MARKER.sub("", line).strip().strip('"\u201c\u201d').strip()
        line = " ".join(line.split())
        if line and len(line) <= MAX_SENTENCE_CHARS:
            sentences.append(line)
    return sentences


def ask(endpoint: EndpointSettings, prompt: str, temperature: float = 1.0) -> str:
    """One chat completion; the reply's text."""
    import httpx

    headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
    url = endpoint.base_url.rstrip("/") + "/chat/completions"
    body = {"model": endpoint.model, "temperature": temperature,
            "messages": [{"role": "system", "content": "You write short, plain English sentences."},
                         {"role": "user", "content": prompt}]}
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=endpoint.timeout_seconds)
    except httpx.HTTPError as error:
        raise GenerationError(f"could not reach {url}: {error}") from None
    if response.status_code != 200:
        raise GenerationError(f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
    try:
        return response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise GenerationError(f"{url} did not answer an OpenAI chat completion: {response.text[:200]}") from None


def existing_keys(paths: list[Path]) -> set[str]:
    keys: set[str] = set()
    for path in paths:
        if path.is_file() and path.stat().st_size:
            try:
                keys.update(sentence_key(s) for s in read_sentences(path))
            except DatasetError as error:
                if "is empty" not in str(error):
                    raise
    return keys


def write_new_sentences(path: Path, sentences: list[str]) -> None:
    """Append ``sentences`` to ``path``, one a line (a missing final newline is added first)."""
    if not sentences:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_newline = path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n")
    with path.open("a", encoding="utf-8") as out:
        out.write(("\n" if needs_newline else "") + "\n".join(sentences) + "\n")


def generate_sentences(
    endpoint: EndpointSettings,
    positives_out: Path,
    negatives_out: Path,
    per_class: int,
    existing: list[Path] = (),
    per_request: int = 20,
    max_requests: int | None = None,
    recipe: str = "audibility",
) -> GenerationReport:
    """Append ``per_class`` new sentences of each class to the two output files, asked for with ``recipe``'s prompts."""
    if recipe not in RECIPES:
        raise GenerationError(f"unknown recipe {recipe!r}; recipes: {', '.join(RECIPES)}")
    prompts = RECIPES[recipe]
    outputs = {1: Path(positives_out), 0: Path(negatives_out)}
    seen = existing_keys([*outputs.values(), *map(Path, existing)])
    new: dict[int, list[str]] = {1: [], 0: []}
    generated_keys: dict[int, set[str]] = {1: set(), 0: set()}
    duplicates = conflicts = requests = 0
    max_requests = max_requests or 4 * (per_class // per_request + 1)
    for label in (1, 0):
        while len(new[label]) < per_class and requests < max_requests:
            theme = THEMES[requests % len(THEMES)]
            prompt = prompts[label].format(n=min(per_request, per_class - len(new[label])), theme=theme)
            requests += 1
            for sentence in parse_reply(ask(endpoint, prompt)):
                key = sentence_key(sentence)
                if key in generated_keys[1 - label]:
                    conflicts += 1  # asked for both classes: it teaches neither
                    new[1 - label] = [s for s in new[1 - label] if sentence_key(s) != key]
                    seen.add(key)
                    continue
                if key in seen or key in generated_keys[label]:
                    duplicates += 1
                    continue
                if len(new[label]) < per_class:
                    new[label].append(sentence)
                    generated_keys[label].add(key)
    for label, path in outputs.items():
        write_new_sentences(path, new[label])
    if any(len(sentences) < per_class for sentences in new.values()):
        log.warning("stopped after %d requests with %d positive and %d negative new sentences",
                    requests, len(new[1]), len(new[0]))
    return GenerationReport(requested_per_class=per_class, written={"positives": len(new[1]), "negatives": len(new[0])},
                            rejected_duplicates=duplicates, rejected_conflicts=conflicts, requests=requests)
