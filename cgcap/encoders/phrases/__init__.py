"""One caption phrase per tagger class, as data: ``yamnet.tsv`` (AudioSet) and ``imagenet.tsv`` (ImageNet-1k).

A tagger's class names are labels, not caption words: YAMNet's "Domestic animals, pets"
offered "domestic animals", "pets" and "animals" at once, and the decoder glued them
("farm animals rooster"). Each class here becomes the one phrase a caption after "Audio
of a" / "Image of a" would use: "Bark" -> "dog barking", "Speech synthesizer" ->
"synthesized voice", "Egyptian cat" -> "cat". A row with an empty phrase offers nothing
(acoustic scenes: "Inside, small room"). Classes not listed get ``fallback_phrase``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

FOLDER = Path(__file__).parent
FILES = {"audio": "yamnet.tsv", "image": "imagenet.tsv"}

# Words that name nothing on their own in a class name ("Sound effect", "Music of Asia").
EMPTY_WORDS = frozenset({"the", "and", "for", "with", "inside", "outside", "small", "large", "effect", "sound",
                         "of", "or", "etc"})

# Names of peoples and nations that class names carry ("Egyptian cat", "German shepherd", "Music of Africa"):
# capitalised in captions, and lower-cased a sign of a class name pasted in.
PROPER_ADJECTIVES = frozenset({
    "african", "american", "arabian", "asian", "australian", "belgian", "brazilian", "british", "chinese",
    "christian", "dutch", "egyptian", "english", "european", "french", "german", "greek", "indian", "irish",
    "italian", "japanese", "korean", "mexican", "norwegian", "persian", "russian", "scottish", "siamese",
    "spanish", "swiss", "tibetan", "welsh", "eskimo"})


def cased(phrase: str) -> str:
    """A lower-case phrase with the names of peoples capitalised: "egyptian cat" -> "Egyptian cat"."""
    return " ".join(word.capitalize() if word in PROPER_ADJECTIVES else word for word in phrase.split(" "))


@functools.cache
def load_phrases(modality: str) -> dict[str, str]:
    """Class name -> phrase ('' = offer nothing) from the modality's file; '#' lines are comments."""
    phrases: dict[str, str] = {}
    path = FOLDER / FILES[modality]
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, phrase = line.partition("\t")
        if not tab:
            raise ValueError(f"{path}:{number}: expected 'class name<TAB>phrase', got {line!r}")
        if name in phrases:
            raise ValueError(f"{path}:{number}: {name!r} is listed twice")
        phrases[name] = cased(phrase.strip().lower())
    return phrases


def shipped_phrases() -> list[str]:
    """Every non-empty phrase of every file."""
    return [phrase for modality in FILES for phrase in load_phrases(modality).values() if phrase]


def fallback_phrase(name: str) -> str:
    """A class name's first alternative, lower-case, without parentheses or repeated words; '' for an
    acoustic scene or a name of empty words. "Rodents, rats, mice" -> "rodents"; "Keyboard (musical)" ->
    "keyboard"; "Hubbub, speech noise, speech babble" -> "hubbub"; "German shepherd" -> "German shepherd"."""
    lower = name.lower()
    if lower.startswith(("inside,", "outside,")):
        return ""
    first = re.sub(r"\([^)]*\)", "", lower).split(",")[0]
    words = list(dict.fromkeys(re.findall(r"[a-z0-9][a-z0-9'-]*[a-z0-9]|[a-z]", first)))
    if not any(len(w) > 2 and w not in EMPTY_WORDS for w in words):
        return ""
    return cased(" ".join(words))


def class_phrase(name: str, phrases: dict[str, str]) -> str:
    """The phrase for one class: the file's, else the fallback."""
    return phrases[name] if name in phrases else fallback_phrase(name)


def phrase_words(names: list[str], phrases: dict[str, str]) -> list[str]:
    """One phrase per class, most probable class first; a phrase two classes share is offered once."""
    return list(dict.fromkeys(phrase for name in names if (phrase := class_phrase(name, phrases))))
