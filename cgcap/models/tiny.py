"""Small randomly initialised models built from configs, seeded: for tests and plumbing.

Text models share a byte-level tokenizer (256 byte tokens plus specials) built in code,
so nothing is downloaded. Same name and seed -> identical weights.
"""

from __future__ import annotations

from functools import lru_cache

from cgcap.models.store import LoadedModel

SPECIALS = ["<|endoftext|>", "<pad>", "[CLS]", "[SEP]"]


@lru_cache(maxsize=None)
def _byte_tokenizer_object():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from tokenizers.pre_tokenizers import ByteLevel

    alphabet = sorted(ByteLevel.alphabet())
    vocab = {symbol: index for index, symbol in enumerate(alphabet)}
    for special in SPECIALS:
        vocab[special] = len(vocab)
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def byte_tokenizer(classifier: bool = False):
    """A byte-level tokenizer; with ``classifier`` it wraps texts as ``[CLS] text [SEP]``."""
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast

    backend = _byte_tokenizer_object().__class__.from_str(_byte_tokenizer_object().to_str())
    if classifier:
        cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<|endoftext|>",
        eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        pad_token="<pad>",
        cls_token="[CLS]" if classifier else None,
        sep_token="[SEP]" if classifier else None,
    )


def build_seeded(make_model, seed: int):
    """Build a model under a fixed seed without disturbing the caller's RNG."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return make_model()


def _build(spec: str, seed: int, make_model, kind, classifier_tokenizer=False) -> LoadedModel:
    model = build_seeded(make_model, seed)
    model.eval()
    return LoadedModel(spec, kind, model, tokenizer=byte_tokenizer(classifier_tokenizer), source=f"random, seed {seed}")


def tiny_gpt2(spec: str, seed: int) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    vocab = len(byte_tokenizer())
    config = GPT2Config(vocab_size=vocab, n_positions=256, n_embd=32, n_layer=2, n_head=2,
                        bos_token_id=256, eos_token_id=256)
    return _build(spec, seed, lambda: GPT2LMHeadModel(config), "causal-lm")


def tiny_llama(spec: str, seed: int) -> LoadedModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    vocab = len(byte_tokenizer())
    # Two key/value heads for four query heads: grouped-query attention, as in SmolLM2.
    config = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         bos_token_id=256, eos_token_id=256, tie_word_embeddings=False)
    return _build(spec, seed, lambda: LlamaForCausalLM(config), "causal-lm")


def tiny_bert_classifier(spec: str, seed: int) -> LoadedModel:
    from transformers import BertConfig, BertForSequenceClassification

    vocab = len(byte_tokenizer())
    config = BertConfig(vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=512, num_labels=2, pad_token_id=257)
    return _build(spec, seed, lambda: BertForSequenceClassification(config), "sequence-classifier", True)
