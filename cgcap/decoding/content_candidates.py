"""The input's own words among the candidates: a tagger encoder's class names.

L_mod can only favour a candidate that is in T = topk(p, k). After "Audio of a" SmolLM2
ranks " phone" 1,848th and " telephone" 5,242nd, so with k = 64 the modality term never
sees the word that names a ringing phone. A tagger knows that word: the names of its most
probable classes. These join T (taking the places of the least probable top-k tokens, so
k and the cost stay the same); the target softmax(a / tau) still decides, by cosine,
whether any of them is the better candidate.

A word of several tokens (" espresso" is " esp" + "resso") stands as its first token for
the whole word: that candidate is scored as the whole word, and a beam that writes it
then writes the rest of the word (``forced_next``), because a first token scored alone and
left to finish by chance is glued to whatever the LM likes next into a non-word. Once a
content word is complete, a token glued onto it ("ski" + "able") is discouraged
(``ends_word``), and so is writing it again (``written``): each repeat raises the cosine
with the input, so the target favours "speech speech".
"""

from __future__ import annotations

import torch


class ContentCandidates:
    def __init__(self, words: list[str], tokenizer):
        # first token id -> the word's token ids; two words may share a first token: the more probable class's wins
        self._spelling: dict[int, list[int]] = {}
        self.whole: dict[int, str] = {}  # first token id -> " word", the text its candidate is scored as
        # Words keep the case they are given: "Egyptian cat" is a name, "Church bell" is not (taggers lower it).
        for word in dict.fromkeys(w.strip() for w in words if w.strip()):
            ids = tokenizer.encode(" " + word, add_special_tokens=False)
            if ids and ids[0] not in self._spelling:
                self._spelling[ids[0]] = ids
                self.whole[ids[0]] = " " + word
        self.first_ids: list[int] = list(self._spelling)
        # Each word as the decoder may write it: lower-case or capitalised, after a space or not
        # (" Speech" and ",Speech" are other tokens than " speech").
        self._forms = [[ids] + [tokenizer.encode(space + form, add_special_tokens=False)
                                for word in [tokenizer.decode(ids).strip()] for space in ("", " ")
                                for form in (word, word.capitalize())]
                       for ids in self._spelling.values()]

    def __bool__(self) -> bool:
        return bool(self.first_ids)

    def candidate_text(self, prefix: str, token: int, piece: str) -> str:
        """The text a candidate is scored as: ``prefix + piece``, or the whole word for a content word's first token."""
        return prefix + self.whole.get(token, piece)

    def forced_next(self, caption_ids: list[int]) -> int | None:
        """The next token of a content word this beam has begun and not finished, else None."""
        for ids in self._spelling.values():
            for written in range(len(ids) - 1, 0, -1):
                if caption_ids[-written:] == ids[:written]:
                    return ids[written]
        return None

    def written(self, caption_ids: list[int]) -> list[int]:
        """First tokens of the content words this beam has already written whole: not to be written again
        ("Audio of a tweet speech speech", "singing bowl bells bells")."""
        def contains(ids: list[int]) -> bool:
            return any(caption_ids[start:start + len(ids)] == ids for start in range(len(caption_ids)))

        return list(dict.fromkeys(form[0] for forms in self._forms if any(map(contains, forms)) for form in forms))

    @property
    def all_firsts(self) -> list[int]:
        """First tokens of every content word in every form the decoder may write it."""
        return list(dict.fromkeys(form[0] for forms in self._forms for form in forms))

    def ends_word(self, caption_ids: list[int]) -> bool:
        """Whether the beam has just written a whole content word."""
        return any(caption_ids[-len(ids):] == ids for ids in self._spelling.values())

    def top_with_content(self, log_p: torch.Tensor, k: int) -> torch.Tensor:
        """``[beams, k]``: the content tokens first, then the most probable others."""
        priority = log_p.detach().clone()
        ids = torch.tensor(self.first_ids[:k], device=priority.device)
        priority[:, ids] = float("inf")
        return priority.topk(k, dim=-1).indices
