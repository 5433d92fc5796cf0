"""The prompt as a caption writes it: where it ends, and its final "a" written "an" before a vowel sound.

Every caption continues a prompt ending in "a" ("Audio of a"), so the decoder writes "Audio
of a alarm" and ``with_article`` corrects it to "Audio of an alarm" on the returned caption.
Whoever reads a caption back (the metrics, the evaluation's predictions) finds the prompt in
either form with ``split_prompt``.
"""

from __future__ import annotations


def without_prompt(caption: str, prompt: str | None) -> str:
    """The words the decoder wrote, as compared with reference captions."""
    return split_prompt(caption, prompt)[1]


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
