"""What the decoder needs to know about the LM's tokens: their text, the end token, the forbidden ones."""

from __future__ import annotations

import functools

import torch

from cgcap.config import SettingsError

# ZeroCap keeps digits and markup out of captions (its forbidden_tokens.npy); we derive
# the same kind of list from each tokenizer's own pieces instead of shipping one per LM.
# U+FFFD marks a piece that is part of a multi-byte character (byte-level BPE); pieces
# with control characters (newlines, tabs, ...) are forbidden too.
FORBIDDEN_CHARACTERS = frozenset("0123456789<>[]{}|\\/#@$%^&*_=+~`\ufffd")


class Vocabulary:
    """The text of every token id (``pieces``) and the ids the logit rules treat specially."""

    def __init__(self, tokenizer, size: int):
        self.tokenizer = tokenizer
        self.size = size  # width of the LM's logits; may exceed len(tokenizer) (padded rows)
        known = min(size, len(tokenizer))
        # One batched decode: a candidate text is prefix + the piece of its token (as ZeroCap builds them).
        self.pieces: list[str] = tokenizer.batch_decode([[i] for i in range(known)]) + [""] * (size - known)
        special = set(tokenizer.all_special_ids)
        self.forbidden_ids = torch.tensor(
            [i for i, piece in enumerate(self.pieces)
             if i >= known or i in special or not piece or not piece.isprintable()
             or FORBIDDEN_CHARACTERS.intersection(piece)],
            dtype=torch.long,
        )

    @functools.cached_property
    def glued_ids(self) -> torch.Tensor:
        """Tokens whose text does not start with whitespace: they continue the word before them."""
        return torch.tensor([i for i, piece in enumerate(self.pieces) if piece and not piece[0].isspace()],
                            dtype=torch.long)

    @functools.cached_property
    def letter_continuation_ids(self) -> torch.Tensor:
        """Tokens that go on spelling the word before them: a letter with no space before it ("able", "s")."""
        return torch.tensor([i for i, piece in enumerate(self.pieces) if piece and piece[0].isalpha()],
                            dtype=torch.long)

    @functools.cached_property
    def blank_ids(self) -> torch.Tensor:
        """Tokens that are only whitespace: " " before " buzz" writes "a  buzz", a word apart twice."""
        return torch.tensor([i for i, piece in enumerate(self.pieces) if piece and piece.isspace()], dtype=torch.long)

    def end_token_id(self, end_token: str) -> int:
        ids = self.tokenizer.encode(end_token, add_special_tokens=False)
        if len(ids) != 1:
            raise SettingsError(
                f"decoding.end_token {end_token!r} is {len(ids)} tokens for this language model; it must be one token"
            )
        return ids[0]

    def start_token_id(self) -> int:
        """ZeroCap starts from GPT-2's <|endoftext|>: the tokenizer's BOS, else its EOS."""
        for token_id in (self.tokenizer.bos_token_id, self.tokenizer.eos_token_id):
            if token_id is not None:
                return token_id
        raise SettingsError("the language model's tokenizer has neither a BOS nor an EOS token to start from")

    def prompt_ids(self, prompt: str) -> list[int]:
        if not prompt.strip():
            raise SettingsError("decoding.prompt is empty; give the text the caption continues, e.g. 'Audio of a'")
        return [self.start_token_id()] + self.tokenizer.encode(prompt, add_special_tokens=False)

    def text(self, ids: list[int]) -> str:
        """The text of token ids, without the start token."""
        return self.tokenizer.decode(ids, skip_special_tokens=False)


def vocabulary_of(lm) -> Vocabulary:
    """One Vocabulary per loaded LM (decoding every piece of a 49k vocabulary takes ~0.4 s)."""
    if "vocabulary" not in lm.extra:
        size = lm.model.get_output_embeddings().weight.shape[0]
        lm.extra["vocabulary"] = Vocabulary(lm.tokenizer, size)
    return lm.extra["vocabulary"]
