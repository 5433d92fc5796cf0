"""The forbidden-token rule keeps digits and markup out of captions and lets a caption end."""

from cgcap.decoding.decoder import GuidedDecoder
from cgcap.config import DecodingSettings
from cgcap.models import load


def test_digits_and_markup_are_forbidden_and_the_end_token_is_not():
    lm = load("tiny:gpt2")
    decoder = GuidedDecoder(lm, DecodingSettings(top_k=16))
    forbidden = set(decoder.forbidden_ids.tolist())
    by_text = {piece: index for index, piece in enumerate(decoder.vocabulary.pieces)}
    assert {by_text["3"], by_text["<"], by_text["#"], by_text["\n"]} <= forbidden
    assert by_text["a"] not in forbidden and by_text[" "] not in forbidden
    assert decoder.end_token_id == by_text["."] and decoder.end_token_id not in forbidden
    assert lm.tokenizer.eos_token_id in forbidden  # special tokens never appear in a caption
