"""Is a caption grounded and well formed? Content words named, real words, ended on its own.

These judge one caption at a time, so a benchmark, an evaluation or a sweep can use
them on any captions: ``names_content`` against a per-item word list,
``count_real_words`` / ``real_word_share`` against wordfreq's English list, and
``ends_on_own`` from the decoder's result.
"""

from __future__ import annotations

from collections.abc import Iterable

from cgcap.decoding.articles import split_prompt
from cgcap.decoding.result import CaptionResult

# A word is "real" at a Zipf frequency of at least 1.5 in wordfreq 3.1.1's English list
# (1.5 = about 3 uses per 100 million words). Measured: invented strings the offline decoder
# writes ("iztera", "drumsá", "pheusabra", "bamara") score 0, sub-word pieces such as "ously"
# 1.2 and "pheu" 1.4, while rare but real caption words clear it: "dewdrops" 1.7, "crinkling"
# 1.9, "glockenspiel" 1.9, "fundus" 2.0. Pieces common on the web ("wh", "bam") still pass:
# this counts invented words, not every fragment.
REAL_WORD_ZIPF = 1.5

_SUFFIXES = ("'s", "’s")


def caption_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` (wordfreq's English tokenizer; numbers left out)."""
    from wordfreq import tokenize

    return [token for token in tokenize(text, "en") if any(ch.isalpha() for ch in token)]


def written_words(caption: str, prompt: str | None = None) -> list[str]:
    """The caption's words after the prompt's words.

    Word by word rather than by characters: a caption that glued its first piece onto the
    prompt ("Audio of abell") wrote the word "abell", not "bell".
    """
    words = caption_words(caption)
    written = split_prompt(caption, prompt)[0]  # the prompt's "a" may be written "an"
    if written:
        for expected in caption_words(written):
            if not words or words[0] != expected:
                break
            words = words[1:]
    return words


def word_forms(word: str) -> set[str]:
    """``word`` and the base forms it may inflect: plural -s/-es/-ies, -ed and -ing (doubled consonant, dropped e).

    Over-generating is harmless: a form only counts when it equals a listed word or a form of one.
    """
    word = word.lower()
    for suffix in _SUFFIXES:
        word = word.removesuffix(suffix)
    forms = {word}
    if len(word) > 4 and word.endswith("ies"):
        forms.add(word[:-3] + "y")  # galaxies -> galaxy
    if len(word) > 3 and word.endswith("es"):
        forms.add(word[:-2])  # buzzes -> buzz
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        forms.add(word[:-1])  # bells -> bell, chimes -> chime
    for suffix in ("ing", "ed"):
        stem = word[: -len(suffix)]
        if len(stem) >= 2 and word.endswith(suffix):
            forms |= {stem, stem + "e"}  # ringing -> ring, chiming -> chime, crumpled -> crumple
            if len(stem) >= 3 and stem[-1] == stem[-2]:
                forms.add(stem[:-1])  # humming -> hum, snapped -> snap
            if suffix == "ed" and stem.endswith("i"):
                forms.add(stem[:-1] + "y")  # carried -> carry
    return forms


def names_content(caption: str, words: Iterable[str], prompt: str | None = None) -> bool:
    """Whether the caption, after ``prompt``, contains one of ``words`` as a whole word, inflected or not.

    An entry of several words ("alarm clock") must appear as consecutive words.
    """
    written = [word_forms(token) for token in written_words(caption, prompt)]
    for entry in words:
        wanted = [word_forms(token) for token in caption_words(entry)]
        if not wanted:
            continue
        for start in range(len(written) - len(wanted) + 1):
            if all(written[start + i] & wanted[i] for i in range(len(wanted))):
                return True
    return False


def count_real_words(caption: str, prompt: str | None = None) -> tuple[int, int]:
    """(real words, words) in the caption after ``prompt``; real = Zipf frequency >= ``REAL_WORD_ZIPF``."""
    from wordfreq import zipf_frequency

    words = written_words(caption, prompt)
    return sum(zipf_frequency(word, "en") >= REAL_WORD_ZIPF for word in words), len(words)


def real_word_share(caption: str, prompt: str | None = None) -> float | None:
    """The share of the caption's words (after ``prompt``) that are real English words; None when it has none."""
    real, total = count_real_words(caption, prompt)
    return real / total if total else None


def ends_on_own(result: CaptionResult) -> bool:
    """Whether the chosen caption ended with the end token rather than running into ``max_tokens``."""
    return next((beam.finished for beam in result.beams if beam.text == result.caption), False)
