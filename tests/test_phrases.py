"""One caption phrase per tagger class, as data: complete, well formed, and what the tagger encoder offers."""

from __future__ import annotations

import pytest

from cgcap.decoding.articles import with_article
from cgcap.encoders.efficientnet import imagenet_class_names
from cgcap.encoders.phrases import class_phrase, fallback_phrase, load_phrases, phrase_words
from cgcap.encoders.yamnet import audioset_class_names
from cgcap.metrics.wellformed import judge

CLASSES = {"audio": audioset_class_names, "image": imagenet_class_names}
PROMPTS = {"audio": "Audio of a", "image": "Image of a"}


@pytest.mark.parametrize("modality", ["audio", "image"])
def test_every_row_names_a_class_of_its_tagger(modality):
    names = set(CLASSES[modality]())
    assert set(load_phrases(modality)) <= names
    assert len(load_phrases(modality)) >= {"audio": 500, "image": 150}[modality]


@pytest.mark.parametrize("modality", ["audio", "image"])
def test_every_phrase_reads_as_a_well_formed_caption(modality):
    # Listed or not: a phrase the decoder may write whole must not itself be glued names or repeat a word.
    prompt = PROMPTS[modality]
    failed = {}
    for name in CLASSES[modality]():
        phrase = class_phrase(name, load_phrases(modality))
        if not phrase:
            continue
        words = phrase.split()
        assert len(set(words)) == len(words), (name, phrase)
        if name in load_phrases(modality):
            verdict = judge(with_article(f"{prompt} {phrase}.", prompt), prompt)
            if not verdict.ok:
                failed[name] = verdict.reasons
    assert not failed


def test_class_names_become_the_words_a_caption_uses():
    audio, image = load_phrases("audio"), load_phrases("image")
    assert class_phrase("Bark", audio) == "dog barking"
    assert class_phrase("Speech synthesizer", audio) == "synthesized voice"
    assert class_phrase("Domestic animals, pets", audio) == "pet"
    assert class_phrase("Egyptian cat", image) == "cat"
    assert class_phrase("Inside, small room", audio) == ""  # an acoustic scene names no source
    assert class_phrase("Sound effect", audio) == ""


def test_one_phrase_per_class_never_its_parts_beside_it():
    # The class names offered "pets", "animals" and "farm animals" at once, and the decoder glued them.
    words = phrase_words(["Domestic animals, pets", "Livestock, farm animals, working animals", "Dog", "Bark"],
                         load_phrases("audio"))
    assert words == ["pet", "farm animal", "dog", "dog barking"]
    # Two classes with one phrase offer it once.
    assert phrase_words(["Bark", "Bow-wow"], load_phrases("audio")) == ["dog barking"]


def test_unlisted_classes_fall_back_to_their_first_alternative():
    assert fallback_phrase("Rodents, rats, mice") == "rodents"
    assert fallback_phrase("Keyboard (musical)") == "keyboard"
    assert fallback_phrase("Hubbub, speech noise, speech babble") == "hubbub"
    assert fallback_phrase("Bird vocalization bird call") == "bird vocalization call"  # no word twice
    assert fallback_phrase("Outside, rural or natural") == ""
    assert fallback_phrase("Sound effect") == ""
    assert fallback_phrase("German short-haired pointer") == "German short-haired pointer"  # a people's name
    assert phrase_words(["Made-up class, other", "Speech"], {}) == ["made-up class", "speech"]


def test_a_malformed_row_is_refused(tmp_path, monkeypatch):
    import cgcap.encoders.phrases as phrases

    (tmp_path / "yamnet.tsv").write_text("# comment\nBark dog barking\n", encoding="utf-8")
    monkeypatch.setattr(phrases, "FOLDER", tmp_path)
    phrases.load_phrases.cache_clear()
    try:
        with pytest.raises(ValueError, match="yamnet.tsv:2"):
            phrases.load_phrases("audio")
    finally:
        phrases.load_phrases.cache_clear()


def test_the_tagger_encoder_offers_one_phrase_per_top_class():
    from pathlib import Path

    from cgcap.data.media import decode_media
    from cgcap.encoders import load_encoder

    encoder = load_encoder("yamnet-minilm")
    media = decode_media(Path(__file__).parents[1] / "cgcap" / "samples" / "bell.flac")
    names = [name for name, _ in encoder.top_classes(media, count=encoder.top_n)]
    assert encoder.content_words(media) == phrase_words(names, load_phrases("audio"))
    assert encoder.content_words(media)[0] == "bell"
