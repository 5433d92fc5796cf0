"""Labelled sentences from the packaged instruct LM, with no endpoint (``generate-data --local smollm2-135m``).

SmolLM2-135M-Instruct does not follow "write 20 sentences, one per line": asked for a list
it repeats one phrase, numbers the lines, or drifts into commentary after two or three. So
each request here asks for ONE sentence about one subject (and, for label 0, one sense),
through the model's chat template, sampled many times in a batch; only the reply's first
sentence is kept. The filter is strict because the model often answers off the point:

- 4 to 20 words, all real English words (wordfreq), no digits, no markup;
- no first person and no talk about the task ("sentence", "photograph", "describe" ...);
- not repetitive (distinct words at least 60% of its words);
- not a near-copy of the prompt's example sentence (similar as a string, or sharing two of its words);
- on topic: a label-1 sentence names no sound, smell, taste, feeling or idea, and a label-0
  sentence names the sense it was asked for (a small lexicon of each sense's words);
- then the endpoint generator's rules: new, and never in both classes.
"""

from __future__ import annotations

import difflib
import logging
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from cgcap.classifier.generation import (GenerationError, GenerationReport, existing_keys, parse_reply,
                                         sentence_key, write_new_sentences)

log = logging.getLogger(__name__)

LOCAL_MODELS = ("smollm2-135m",)
SYSTEM = "You write short, plain English sentences."
MIN_WORDS, MAX_WORDS = 4, 20
MAX_NEW_TOKENS = 32  # a 20-word sentence is ~25 SmolLM2 tokens
MIN_ZIPF = 1.0  # wordfreq's Zipf scale: 1.0 is once per 100 million words; unknown words are 0
NEAR_COPY = 0.6  # difflib ratio to the prompt's example at or above which a sentence is its copy
MIN_DISTINCT = 0.6  # distinct words / words below which a sentence only repeats itself

# Concrete subjects, so that the sampled sentences differ in what they are about, not only in wording.
SUBJECTS = [
    "a dog", "a cat", "horses", "birds", "a farm", "a forest", "a mountain lake", "a beach", "a harbour", "a river",
    "a city street", "a market", "a train station", "an airport", "a car", "a bicycle", "a bus", "a boat",
    "a kitchen", "a dinner table", "a bakery", "a garden", "a living room", "a bedroom", "an office", "a workshop",
    "a classroom", "a library", "a football match", "a tennis court", "a swimming pool", "a playground",
    "a wedding", "a birthday party", "a concert", "a museum", "a church", "a bridge", "a snowy village",
    "a desert", "a rainy evening", "a sunset", "fruit and vegetables", "old tools", "a computer desk",
    "a clock", "a bottle and glasses", "shoes and clothes",
]

VISUAL_EXAMPLE = "A red kite hangs above a green hill."
# label 0: (sense, its example, words that show a sentence is about it)
SENSES = {
    "sound": ("The distant hum of a refrigerator at night.",
              "sound sounds noise noises hum hums humming buzz buzzing ring ringing rings rang roar roars roaring "
              "whistle whistles whistling bark barks barking chirp chirping song songs sing sings singing music "
              "voice voices whisper whispers whispering echo echoes echoing hear hears heard loud quiet silence "
              "rumble rumbles rumbling click clicks clicking crack crackle crackling creak creaks creaking beep "
              "beeps laughter laugh laughs laughing shout shouts shouting chime chimes bell bells thunder splash "
              "splashing rustle rustling tick ticking honk honking melody hiss hissing"),
    "smell": ("The sour smell of milk left out too long.",
              "smell smells smelled smelling scent scents aroma aromas odor odour stench fragrance fragrant perfume "
              "whiff stink stinks reek reeks musty"),
    "taste": ("The bitter taste of strong black coffee.",
              "taste tastes tasted tasting flavor flavour flavors flavours bitter sweet sour salty spicy tangy "
              "savory savoury bland delicious tart aftertaste"),
    "feeling": ("A sudden wave of homesickness on a Sunday evening.",
                "feel feels felt feeling feelings warmth warm cold chill ache aches pain itch tired tiredness "
                "calm fear afraid joy joyful sadness sad lonely loneliness homesickness nervous anxiety anxious "
                "relief comfort hunger hungry thirst thirsty love pride proud shame boredom bored excitement "
                "excited happiness happy anger angry nostalgia longing grief peace peaceful"),
    "idea": ("The hope that tomorrow will be better.",
             "idea ideas hope hopes thought thoughts belief beliefs believe memory memories dream dreams wish "
             "wishes promise promises plan plans reason truth meaning knowledge fairness freedom justice trust "
             "honesty doubt worry worries curiosity wonder decision rule rules law luck chance time future "
             "past faith"),
}
SENSE_WORDS = {sense: frozenset(words.split()) for sense, (_, words) in SENSES.items()}
# Words a sight may use too ("a warm light", "a church bell") do not make a sentence about a sense.
NOT_VISUAL_WORDS = frozenset().union(*SENSE_WORDS.values()) - {"warm", "cold", "time", "plan", "plans", "rule",
                                                                  "rules", "law", "song", "bell", "bells",
                                                                  "sweet", "calm", "happy", "sad", "proud"}
# Talk about the task or the writer, not a description: "The picture shows ...", "I think ...".
META_WORDS = frozenset(
    "i i'd i'm i've i'll me my mine we we're our us you you're your here's that's sentence sentences example examples describe describes describing "
    "description photograph photographs photo photos picture pictures image images seen unseen cannot "
    "visible invisible theme prompt write written".split())

PROMPTS = {
    "visual": {
        1: ("Write one short sentence that describes what a photograph of {subject} shows: the objects, people or "
            "animals, their colours, shapes and places, like \"" + VISUAL_EXAMPLE + "\" Write only the sentence."),
        0: ("Write one short sentence that describes {sense_article} {sense} of {subject}, something that cannot "
            "be seen, like \"{example}\" Write only the sentence."),
    },
}

_FUNCTION_WORDS = frozenset("that this will with from into onto over under above below than then".split())
_WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"\u201d']?\s")
_NOT_PLAIN = re.compile(r"[0-9#*_<>\[\]{}|\\/@=+~^]")


class LocalGenerationSettings(BaseModel):
    model: str = "smollm2-135m"
    seed: int = Field(0, ge=0)
    temperature: float = Field(0.8, gt=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    batch_size: int = Field(64, ge=1, le=512)  # replies sampled at once to one prompt


@dataclass
class FilterCounts:
    """Why replies were dropped, in filter order (a reply is counted once, at the first rule it fails)."""

    sampled: int = 0
    empty: int = 0
    length: int = 0
    not_plain: int = 0
    unknown_word: int = 0
    meta: int = 0
    repetitive: int = 0
    near_copy: int = 0
    off_topic: int = 0
    kept: int = 0
    by_label: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0})


def first_sentence(reply: str) -> str:
    """The reply's first line's first sentence, list markers and quotes removed."""
    lines = parse_reply(reply)
    if not lines:
        return ""
    sentence = _SENTENCE_END.split(lines[0], maxsplit=1)[0].strip().strip('"\u201c\u201d\'').strip()
    return sentence[:1].upper() + sentence[1:]


def words_of(sentence: str) -> list[str]:
    return [word.lower() for word in _WORD.findall(sentence)]


def _is_real_word(word: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en") >= MIN_ZIPF


def example_words(example: str) -> frozenset[str]:
    """The example's own words (4 letters or more, not a sense's name): two of them in a reply make it a retelling."""
    return frozenset(word for word in words_of(example) if len(word) >= 4) - NOT_VISUAL_WORDS - _FUNCTION_WORDS


def rejection(sentence: str, label: int, example: str) -> str | None:
    """Why ``sentence`` may not be kept as a ``label`` sentence (asked for with ``example``), or None."""
    if not sentence:
        return "empty"
    words = words_of(sentence)
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return "length"
    if _NOT_PLAIN.search(sentence) or not sentence[0].isalpha():
        return "not_plain"
    if not all(_is_real_word(word) for word in words):
        return "unknown_word"
    if META_WORDS.intersection(words):
        return "meta"
    if len(set(words)) < MIN_DISTINCT * len(words):
        return "repetitive"  # "A cat is a cat is a cat."
    if (difflib.SequenceMatcher(None, sentence_key(sentence), sentence_key(example)).ratio() >= NEAR_COPY
            or len(example_words(example).intersection(words)) >= 2):
        return "near_copy"  # the example retold: "A red kite lies atop a green hill."
    if label == 1 and NOT_VISUAL_WORDS.intersection(words):
        return "off_topic"
    if label == 0 and not NOT_VISUAL_WORDS.intersection(words):
        return "off_topic"  # asked for a taste, it may answer a smell: any sense will do, but one must be named
    return None


@dataclass
class _Request:
    label: int
    prompt: str
    example: str
    sense: str | None


def _requests(recipe: str, rng: random.Random) -> list[_Request]:
    """The prompts in a seeded order, the two labels taking turns (label 1 cycles through its subjects)."""
    prompts = PROMPTS[recipe]
    visual = [_Request(1, prompts[1].format(subject=subject), VISUAL_EXAMPLE, None) for subject in SUBJECTS]
    other = [_Request(0, prompts[0].format(subject=subject, sense=sense, sense_article="an" if sense == "idea" else "a",
                                           example=example), example, sense)
             for subject in SUBJECTS for sense, (example, _) in SENSES.items()]
    rng.shuffle(visual)
    rng.shuffle(other)
    return [request for index, negative in enumerate(other) for request in (visual[index % len(visual)], negative)]


class LocalWriter:
    """Samples replies from a packaged chat model with ``transformers``' ``generate``."""

    def __init__(self, settings: LocalGenerationSettings):
        from cgcap.models import load
        from cgcap.models.store import ModelNotFoundError

        if settings.model not in LOCAL_MODELS:
            raise GenerationError(f"--local {settings.model!r}: the local writers are {', '.join(LOCAL_MODELS)}")
        try:
            loaded = load(settings.model, task="causal-lm")
        except ModelNotFoundError as error:
            raise GenerationError(str(error)) from None
        self.settings = settings
        self.model, self.tokenizer = loaded.model.eval(), loaded.tokenizer
        if not getattr(self.tokenizer, "chat_template", None):
            raise GenerationError(f"{settings.model} has no chat template; it cannot be prompted as an instruct model")
        # Only the first sentence is kept, so a reply ends at the first token that ends a sentence or a line:
        # a batch stops as soon as its every reply has one, instead of always running MAX_NEW_TOKENS.
        vocabulary = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        ends = [index for index, token in enumerate(vocabulary)
                if token and any(mark in self.tokenizer.convert_tokens_to_string([token]) for mark in ".!?\n")]
        self.stop_ids = [self.tokenizer.eos_token_id, *ends]

    def replies(self, prompt: str, count: int) -> list[str]:
        import torch

        chat = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        inputs = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, do_sample=True, temperature=self.settings.temperature, top_p=self.settings.top_p,
                max_new_tokens=MAX_NEW_TOKENS, num_return_sequences=count, eos_token_id=self.stop_ids,
                pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        start = inputs["input_ids"].shape[1]
        return [self.tokenizer.decode(row[start:], skip_special_tokens=True) for row in output]


class LocalGenerationReport(GenerationReport):
    model: str
    seed: int
    seconds: float
    filtered: dict[str, int]  # FilterCounts, for the provenance file


def generate_locally(settings: LocalGenerationSettings, positives_out: Path, negatives_out: Path, per_class: int,
                     existing: list[Path] = (), max_requests: int | None = None,
                     recipe: str = "visual") -> LocalGenerationReport:
    """Append up to ``per_class`` filtered new sentences of each class, written by ``settings.model``."""
    import torch

    if recipe not in PROMPTS:
        raise GenerationError(f"--local writes the {', '.join(PROMPTS)} recipe; {recipe!r} needs an endpoint")
    torch.manual_seed(settings.seed)
    rng = random.Random(settings.seed)
    writer = LocalWriter(settings)
    outputs = {1: Path(positives_out), 0: Path(negatives_out)}
    seen = existing_keys([*outputs.values(), *map(Path, existing)])
    new: dict[int, dict[str, str]] = {1: {}, 0: {}}  # key -> sentence
    counts = FilterCounts()
    conflicts = duplicates = requests = 0
    plan = _requests(recipe, rng)
    max_requests = max_requests or 20 * len(plan)
    started = time.perf_counter()
    while requests < max_requests and any(len(new[label]) < per_class for label in (0, 1)):
        request = plan[requests % len(plan)]
        requests += 1
        if len(new[request.label]) >= per_class:
            continue
        for reply in writer.replies(request.prompt, settings.batch_size):
            counts.sampled += 1
            sentence = first_sentence(reply)
            reason = rejection(sentence, request.label, request.example)
            if reason is not None:
                setattr(counts, reason, getattr(counts, reason) + 1)
                continue
            key = sentence_key(sentence)
            if key in new[1 - request.label]:
                conflicts += 1  # written for both classes: it teaches neither
                del new[1 - request.label][key]
                seen.add(key)
            elif key in seen or key in new[request.label]:
                duplicates += 1
            elif len(new[request.label]) < per_class:
                new[request.label][key] = sentence
        log.info("%d requests: %d visual, %d not visual kept of %d sampled", requests, len(new[1]), len(new[0]),
                 counts.sampled)
    counts.by_label = {label: len(sentences) for label, sentences in new.items()}
    counts.kept = sum(counts.by_label.values())
    for label, path in outputs.items():
        write_new_sentences(path, list(new[label].values()))
    filtered = {name: value for name, value in vars(counts).items() if isinstance(value, int)}
    return LocalGenerationReport(
        requested_per_class=per_class, written={"positives": len(new[1]), "negatives": len(new[0])},
        rejected_duplicates=duplicates, rejected_conflicts=conflicts, requests=requests, model=settings.model,
        seed=settings.seed, seconds=round(time.perf_counter() - started, 1), filtered=filtered)


def refilter(path: Path, label: int) -> dict[str, int]:
    """Drop the lines of a ``label`` file the current rules refuse (for any of the label's examples); the counts why.

    For sentences written before a rule was added, so that a file holds only what the rules keep today.
    """
    from cgcap.classifier.data import read_sentences

    examples = [VISUAL_EXAMPLE] if label == 1 else [example for example, _ in SENSES.values()]
    kept, dropped = [], {}
    for sentence in read_sentences(path):
        reason = next((r for r in (rejection(sentence, label, example) for example in examples) if r), None)
        if reason is None:
            kept.append(sentence)
        else:
            dropped[reason] = dropped.get(reason, 0) + 1
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return dropped
