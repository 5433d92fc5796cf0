"""The well-formedness judge on hand-labelled captions, and each of its rules on its own."""

from __future__ import annotations

import pytest

from cgcap.metrics.wellformed import judge

A, I = "Audio of a", "Image of a"

# (caption, prompt, well formed by my reading). The failures of the first block are the offline captions
# that read as glued class names; the passes after them include good offline captions and fluent ones written
# for this list.
LABELLED = [
    # The failures.
    ("Audio of a farm animals rooster.", A, False),
    ("Audio of a yourself farm animals and fowl cock.", A, False),
    ("Audio of a bark cham dog.", A, False),
    ("Audio of a cheering cheer team during a crowd.", A, False),
    ('Audio of a " and the chirp birds song birds.', A, False),
    ("Audio of a foghorn- a device electronic tuner.", A, False),
    ("Audio of a roaring cats wild animals.", A, False),
    ("Audio of a rail transport horn train car.", A, False),
    ("Image of a different Trip tripod.", I, False),
    ("Image of a Palace, a royal and aristocratic.", I, False),
    ("Image of a church bell egyptian cat.", I, False),
    ("Image of a certain egyptian cat.", I, False),
    # More failures, one or two per rule.
    ("Audio of a dog (barking).", A, False),
    ("Audio of a bell ringing...", A, False),
    ("Audio of a speech speech.", A, False),
    ("Audio of a singing bowl bells bells.", A, False),
    ("Audio of a birds chirping.", A, False),
    ("Audio of a pets and farm animals.", A, False),
    ("Audio of a the crowd cheering.", A, False),
    ("Image of a cup a espresso.", I, False),
    ("Audio of a telephone bell ringing ringtone.", A, False),
    ("Image of a drilling platform missile projectile.", I, False),
    ("Image of a tabby tiger cat lynx.", I, False),
    ("Audio of a piano keyboard synthesizer organ.", A, False),
    ("Audio of a woman speaking and.", A, False),
    ("Audio of a bell ringing in the.", A, False),
    ("Image of a german shepherd dog.", I, False),
    ("Audio of a iztera drumsá.", A, False),
    ("Audio of a pheusabra bell.", A, False),
    ("Audio of a whistle / horn.", A, False),
    ("Audio of a android phone.", A, False),
    ("Audio of a singing bowl bells.", A, False),  # "bells" read as a verb, like "a bell rings"
    ("Audio of a music.", A, False),  # a mass noun after "a"
    ("Audio of a laughter.", A, False),
    ("Image of a drilling platform missile.", I, False),  # two class names pasted together
    ("Audio of a man speak loudly.", A, False),  # subject-verb agreement: not a rule
    # Passes: the good ones.
    ("Audio of a car horn.", A, True),
    ("Audio of a cash register.", A, True),
    ("Audio of a jackhammer.", A, True),
    ("Audio of a whistle.", A, True),
    ("Image of an espresso.", I, True),
    ("Audio of a bleat.", A, True),
    ("Audio of an electric shaver hiss.", A, True),
    ("Image of a motor scooter vehicle.", I, True),
    # Passes I wrote.
    ("Audio of a dog barking in the distance.", A, True),
    ("Audio of an old church bell ringing.", A, True),
    ("Image of a cat sitting on a wooden floor.", I, True),
    ("Audio of a telephone ringing.", A, True),
    ("Audio of a person speaking.", A, True),
    ("Audio of a synthesized voice reading the weather.", A, True),
    ("Audio of a crowd cheering at a stadium.", A, True),
    ("Audio of a rooster crowing on a farm.", A, True),
    ("Audio of a bird chirping in a tree.", A, True),
    ("Audio of a piece of music.", A, True),
    ("Audio of a paper crumpling.", A, True),
    ("Audio of a glockenspiel.", A, True),
    ("Audio of a foghorn.", A, True),
    ("Audio of an alarm clock beeping.", A, True),
    ("Audio of a busy signal on a phone line.", A, True),
    ("Audio of a camera shutter clicking.", A, True),
    ("Audio of a gust of wind.", A, True),
    ("Audio of an ocean wave crashing on the shore.", A, True),
    ("Audio of a man's voice counting to seven.", A, True),
    ("Audio of a ringtone.", A, True),
    ("Image of a tabby cat.", I, True),
    ("Image of a cup of coffee on a saucer.", I, True),
    ("Image of a rocket lifting off.", I, True),
    ("Image of a camera on a tripod.", I, True),
    ("Image of a wall clock.", I, True),
    ("Image of an Egyptian cat.", I, True),
    ("Image of a brick wall.", I, True),
    ("Image of a horse standing in a field.", I, True),
    ("Image of an astronaut holding a helmet.", I, True),
    ("Image of a pile of coins.", I, True),
    ("Audio of a plucked string instrument.", A, True),
    ("Audio of a small bell ringing once.", A, True),
    ("Audio of a bell rings three times.", A, True),
    ("Audio of an alarm clock beeps.", A, True),
    ("Audio of a fire truck siren.", A, True),  # a compound of three nouns: the nouns rule fails it
    ("Image of a certain cat.", I, True),  # vague but English; the rules agree
    ("Image of a traffic light.", I, True),  # a mass noun modifying the head
]
# Where the rules and my reading differ, each for a reason the rules cannot see.
KNOWN_DISAGREEMENTS = {
    "Audio of a singing bowl bells.",  # a final noun in -s that may be a verb is read as one ("a dog barks")
    "Audio of a man speak loudly.",  # subject-verb agreement is not a rule
    "Audio of a fire truck siren.",  # a compound of three nouns is English; the nouns rule fails it
}


def test_the_list_has_enough_of_both_kinds():
    assert len(LABELLED) >= 60
    assert len({caption for caption, _, _ in LABELLED}) == len(LABELLED)
    assert sum(ok for _, _, ok in LABELLED) >= 30 and sum(not ok for _, _, ok in LABELLED) >= 25


@pytest.mark.parametrize("caption, prompt, ok", LABELLED)
def test_the_judge_agrees_with_the_hand_label(caption, prompt, ok):
    verdict = judge(caption, prompt)
    expected = ok if caption not in KNOWN_DISAGREEMENTS else not ok
    assert verdict.ok == expected, verdict.reasons
    assert bool(verdict.reasons) == (not verdict.ok)


def test_overall_agreement_with_the_hand_labels():
    agree = sum(judge(caption, prompt).ok == ok for caption, prompt, ok in LABELLED)
    assert agree == len(LABELLED) - len(KNOWN_DISAGREEMENTS)
    assert agree / len(LABELLED) >= 0.9  # 78 of 81


def reasons(caption: str, prompt: str | None = A) -> list[str]:
    return judge(caption, prompt).reasons


def kinds(caption: str, prompt: str | None = A) -> set[str]:
    return {reason.split(":")[0] for reason in reasons(caption, prompt)}


def test_symbols():
    assert kinds('Audio of a " dog barking.') == {"symbols"}
    assert kinds("Audio of a dog [barking].") == {"symbols"}
    assert kinds("Audio of a foghorn- sounding.") == {"symbols"}
    assert kinds("Audio of a dog barking,") == {"symbols"}
    assert kinds("Audio of a dog. barking") == {"symbols"}
    # Hyphens inside a word, an apostrophe of a possessive and a final stop are fine.
    assert reasons("Audio of a man's voice and a hi-hat.") == []
    assert reasons("Audio of a dog barking, then a cat meowing!") == []


def test_repeat():
    assert kinds("Audio of a bird and more birds.") == {"repeat"}
    assert kinds("Audio of a cheer from a cheering crowd.") == {"repeat"}
    assert kinds("Image of a trip on a tripod.") == {"repeat"}  # glued names share a stem
    assert kinds("Audio of a telephone ringing and a ringtone.") == {"repeat"}
    assert kinds("Audio of a bell in the the hall.") == {"repeat"}
    # Three letters in common is English: "cat catching", "car carrying".
    assert reasons("Image of a cat catching a mouse.", I) == []
    assert reasons("Image of a car carrying a boat.", I) == []
    # Function words may recur.
    assert reasons("Audio of a dog barking at a cat in a garden.") == []


def test_article():
    assert kinds("Audio of a farm animals.") == {"article"}
    assert kinds("Audio of a yourself.") == {"article"}
    assert kinds("Audio of a the dog.") == {"article"}
    assert kinds("Audio of a to one mouse rattle.") == {"article"}  # an offline caption
    assert reasons("Audio of a very old bell.") == [] and reasons("Audio of a few bells.") == []
    assert kinds("Audio of a dog and a owl.") == {"article"}  # "a" where "an" is said, inside the caption
    assert kinds("Audio of a roaring lions.") == {"article"}  # the head, not the participle before it
    assert reasons("Audio of a roaring lion.") == []
    # The prompt's "a" written "an" before a vowel sound; the judge reads either form of the prompt.
    assert reasons("Audio of an alarm clock.") == []
    assert reasons("Audio of an alarms.") == ["article: 'an' before plural 'alarms'"]
    assert kinds("Audio of a android phone.") == {"article"}  # as returned, the prompt's "a" must fit too
    assert reasons("Audio of a dog barks.") == []  # a verb in -s, not a plural head
    # A plural after the head noun is no disagreement: "a dog barking at cats".
    assert reasons("Audio of a dog barking at cats.") == []
    # Plurals the lexicon lists as their own lemma.
    assert kinds("Audio of a people talking.") == {"article"}
    # Mass nouns take no "a"; as a modifier, or counted, they are fine.
    assert reasons("Audio of a music.") == ["article: 'a' before uncountable 'music'"]
    assert reasons("Audio of a piece of music.") == [] and reasons("Audio of a music box.") == []


def test_stacked_class_names():
    assert reasons("Image of a drilling platform missile.") == ["names: 'drilling platform' and 'missile' side by side"]
    assert kinds("Audio of a farm animals rooster.") == {"nouns", "names"}
    # One name, a name and the kind of thing it is, or a name and the sound it makes: phrases.
    for caption in ("Audio of a telephone bell ringing.", "Image of a motor scooter vehicle.",
                    "Audio of an electric shaver hiss.", "Audio of a bicycle bell.", "Image of a tabby cat."):
        assert reasons(caption) == [], caption


def test_nouns():
    assert kinds("Audio of a rail transport horn.") == {"nouns"}
    assert kinds("Image of a device electronic tuner.", I) == {"nouns"}  # two noun phrases side by side
    # "projectile" may be an adjective, but not where it ends the phrase
    assert kinds("Image of a platform missile projectile.", I) == {"nouns"}
    # A function word, a comma or a verb form ends the run.
    assert reasons("Audio of a car horn and a dog barking.") == []
    assert reasons("Audio of a car horn, train, bus.") == []
    assert reasons("Audio of a car horn honking twice.") == []
    # Adjectives before the head do not count as nouns ("motor" may be one).
    assert reasons("Image of a motor scooter vehicle.", I) == []
    assert reasons("Image of a big old wooden door.", I) == []


def test_ending():
    assert kinds("Image of a royal and aristocratic.", I) == {"ending"}
    assert kinds("Audio of a bell ringing in the.") == {"ending"}
    assert kinds("Audio of a dog barking with.") == {"ending"}
    assert reasons("Image of a rocket lifting off.", I) == []  # a particle, not an opening preposition
    assert reasons("Audio of a car passing by.") == []


def test_lower_case_names():
    assert kinds("Image of a certain egyptian cat.", I) == {"lower-case name"}
    assert reasons("Image of an Egyptian cat.", I) == []


def test_rare_words():
    assert kinds("Audio of a cham.") == {"rare"}  # a fragment: not in the lexicon, Zipf 2.7
    assert kinds("Audio of a susurrus.") == {"rare"}  # real, but Zipf 1.2 where "rustle" exists
    # Rare names that are a tagger's class names are the name of the thing.
    assert reasons("Audio of a glockenspiel.") == []
    assert reasons("Audio of a didgeridoo.") == []
    assert reasons("Image of a potter's wheel.", I) == []


def test_no_words_after_the_prompt():
    assert kinds("Audio of a") == {"empty"}
    assert kinds("Audio of a ...") == {"symbols", "empty"}


def test_without_a_prompt_the_whole_caption_is_judged():
    assert judge("A dog barking in the distance.").ok
    assert kinds("A farm animals.", None) == {"article"}
