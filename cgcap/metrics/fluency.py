"""How likely the plain language model finds a caption: mean log-probability per token, no steering.

A signal independent of ``cgcap.metrics.wellformed``'s rules: the frozen LM that writes
the captions, run once over "prompt + caption" with nothing shifted, scores each token the
decoder wrote after the prompt. Glued class names ("farm animals rooster") are text the LM
would not write itself and score low; the λ_mod = 0 captions of the same inputs (the LM
steered by the classifier alone) are the reference for what this LM finds fluent.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from cgcap.decoding.articles import split_prompt


def _start_id(tokenizer) -> int | None:
    # The decoder's own context starts from the tokenizer's BOS, else its EOS (Vocabulary.start_token_id).
    for token_id in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token_id is not None:
            return token_id
    return None


def caption_token_ids(tokenizer, caption: str, prompt: str | None) -> tuple[list[int], int]:
    """(the start token, prompt and caption as token ids; how many of them are context, not scored)."""
    written_prompt, text = split_prompt(caption, prompt)
    start = _start_id(tokenizer)
    head = [] if start is None else [start]
    if not written_prompt:
        return head + tokenizer.encode(caption.strip(), add_special_tokens=False), len(head)
    context = tokenizer.encode(written_prompt, add_special_tokens=False)
    whole = tokenizer.encode(f"{written_prompt} {text}" if text else written_prompt, add_special_tokens=False)
    if whole[:len(context)] != context:  # the caption's first token merged with the prompt's last: score apart
        whole = context + tokenizer.encode(f" {text}", add_special_tokens=False)
    return head + whole, len(head) + len(context)


@torch.inference_mode()
def mean_log_probabilities(lm, captions: Iterable[tuple[str, str | None]], batch_size: int = 32) -> list[float | None]:
    """Mean natural-log probability per caption token under ``lm`` (a loaded causal LM: ``.model``,
    ``.tokenizer``), for each (caption, prompt); None for a caption with no token after its prompt.
    A caption's first token is scored given the prompt, so a caption is never scored from nothing.
    Up to ``batch_size`` captions share one forward pass, padded on the right: a token attends only to
    those before it, so the padding changes none of a caption's scores (up to the float rounding of a
    larger product)."""
    model, tokenizer = lm.model, lm.tokenizer
    device = next(model.parameters()).device
    encoded = [caption_token_ids(tokenizer, caption, prompt) for caption, prompt in captions]
    out: list[float | None] = [None] * len(encoded)
    scored = [i for i, (ids, context) in enumerate(encoded) if len(ids) > max(context, 1)]
    for start in range(0, len(scored), batch_size):
        chunk = scored[start:start + batch_size]
        width = max(len(encoded[i][0]) for i in chunk)
        ids = torch.zeros(len(chunk), width, dtype=torch.long, device=device)
        mask = torch.zeros(len(chunk), width, dtype=torch.long, device=device)
        for row, i in enumerate(chunk):
            tokens = encoded[i][0]
            ids[row, :len(tokens)] = torch.tensor(tokens, device=device)
            mask[row, :len(tokens)] = 1
        log_probs = torch.log_softmax(model(ids, attention_mask=mask).logits[:, :-1].float(), dim=-1)
        chosen = log_probs.gather(-1, ids[:, 1:, None])[..., 0]  # position j predicts token j + 1
        for row, i in enumerate(chunk):
            tokens, context = encoded[i]
            out[i] = float(chosen[row, max(context, 1) - 1:len(tokens) - 1].mean())
    return out


def mean_log_probability(lm, caption: str, prompt: str | None = None) -> float | None:
    return mean_log_probabilities(lm, [(caption, prompt)])[0]


def references_after_prompt(references: Iterable[str], prompt: str) -> list[str]:
    """The references that begin with "A" or "An", written after ``prompt`` when it ends in that article:
    "A telephone rings." after "Audio of a" is "Audio of a telephone rings.". A yardstick for the captions'
    log-probability: what people wrote, in the frame the decoder writes in."""
    head, _, last = prompt.strip().rpartition(" ")
    if not head or last.lower() not in ("a", "an"):
        return []
    out = []
    for text in references:
        article, _, rest = text.strip().partition(" ")
        if article in ("A", "An") and rest:
            out.append(f"{head} {article.lower()} {rest}")
    return out
