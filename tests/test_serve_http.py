"""The Serve application over real HTTP, in-process on the tiny profile.

Serve starts once for the module (four deployments: Ingress, GuidedDecoder, Encoder,
Classifier); the replica-kill test runs last because it restarts the decoder.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import requests
import soundfile
from PIL import Image

pytestmark = pytest.mark.slow  # the Serve application on a local Ray, started once for the module

API_KEY_ENV = "CGCAP_SERVE_TEST_API_KEY"
API_KEY = "serve-test-key-7f3a"
OVERRIDES = [
    f"serve.api_key_env={API_KEY_ENV}",
    "limits.max_upload_bytes=1000000",
    "limits.max_audio_seconds=4",
    "limits.max_image_pixels=300000",
    # Long enough that concurrent requests' scorer calls meet in one batch on a busy 2-core machine.
    "serve.batch_wait_timeout_s=0.02",
    # Images are steered by their own classifier towards the other label (the offline profile's shape).
    "models.image_classifier=tiny:bert-classifier@2",
    "decoding.image_wanted_label=0",
]


@dataclass
class Service:
    url: str
    settings: object

    def post(self, path="/v1/captions", key=API_KEY, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return requests.post(self.url + path, headers=headers, timeout=120, **kwargs)

    def get(self, path: str, key=API_KEY) -> requests.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return requests.get(self.url + path, headers=headers, timeout=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tiny_service(api_key_env: str, api_key: str, overrides: list[str]):
    """Serve on the tiny profile with ``overrides``, on a free port of 127.0.0.1: yields its URL, then shuts
    Serve and Ray down and restores the API key's variable. For a module-scoped fixture."""
    import ray
    from ray import serve

    from cgcap.serving.cli import start_local

    previous = os.environ.get(api_key_env)
    os.environ[api_key_env] = api_key  # replicas inherit the environment of the Ray the test starts
    port = free_port()
    try:
        start_local("tiny", overrides=overrides, port=port)
        yield f"http://127.0.0.1:{port}"
    finally:
        serve.shutdown()
        ray.shutdown()
        if previous is None:
            os.environ.pop(api_key_env, None)
        else:
            os.environ[api_key_env] = previous


def wav_bytes(seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.3) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = amplitude * (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 880 * t)) / 1.5
    buffer = io.BytesIO()
    soundfile.write(buffer, tone.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def png_bytes(size: tuple[int, int] | None = None) -> bytes:
    from skimage import data

    image = Image.fromarray(data.astronaut())
    if size:
        image = image.resize(size)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def register_mlflow_classifier(tracking_uri: str, spec: str, name: str) -> str:
    """A classifier in the MLflow registry as a safetensors folder with alias ``champion``."""
    import mlflow
    from mlflow import MlflowClient

    from cgcap.models import load
    from cgcap.tracking import configure

    configure(tracking_uri, "serve-tests")
    loaded = load(spec)
    with tempfile.TemporaryDirectory() as folder:
        loaded.model.save_pretrained(folder)
        loaded.tokenizer.save_pretrained(folder)
        with mlflow.start_run() as run:
            mlflow.log_artifacts(folder, "classifier")
            source = mlflow.get_artifact_uri("classifier")
    client = MlflowClient()
    client.create_registered_model(name)
    version = client.create_model_version(name, source, run_id=run.info.run_id)
    client.set_registered_model_alias(name, "champion", version.version)
    return f"models:/{name}@champion"


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    import ray
    from ray import serve

    from cgcap.config import load_settings
    from cgcap.serving.cli import start_local

    tracking_uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    overrides = OVERRIDES + [f"tracking.tracking_uri={tracking_uri}"]
    previous = {name: os.environ.get(name) for name in (API_KEY_ENV, "MLFLOW_TRACKING_URI")}
    os.environ[API_KEY_ENV] = API_KEY  # replicas inherit the environment of the Ray the test starts
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    port = free_port()
    try:
        # Four logical CPUs on a 2-core machine: room for a replacement replica after the kill test.
        start_local("tiny", overrides=overrides, port=port, num_cpus=4)
        yield Service(f"http://127.0.0.1:{port}", load_settings("tiny", overrides=overrides))
    finally:
        serve.shutdown()
        ray.shutdown()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def in_process(settings, source: bytes, filename: str, options: dict | None = None) -> dict:
    """What the CLI gets for the same request: ``Captioner`` with in-process models, no Serve."""
    from cgcap.captioner import Captioner
    from cgcap.config import load_settings

    options = dict(options or {})
    # A request's own classifier replaces every modality's.
    chosen = options.pop("classifier", None)
    extra = [f"models.classifier={chosen}", f"models.image_classifier={chosen}"] if chosen else []
    if options.get("modality") in ("audio", "image"):
        extra.append(f"media.video_mode={options['modality']}")  # the request's track pick, as a setting
    options.pop("modality", None)
    settings = load_settings(settings.profile, overrides=OVERRIDES + [
        f"tracking.tracking_uri={settings.tracking.tracking_uri}"] + extra)
    return Captioner.from_settings(settings).caption(source, filename, options).model_dump()


def assert_same_caption(served: dict, local: dict) -> None:
    """The service and the library agree on everything but timings and the request's own fields."""
    assert served["caption"] == local["caption"]
    assert (served["input"], served["modality"], served["prompt"]) == (local["input"], local["modality"], local["prompt"])
    assert served["model_ids"] == local["model_ids"]
    for section in ("decoding", "models", "media"):
        assert served["settings"][section] == local["settings"][section], section
    assert len(served["beams"]) == len(local["beams"])
    for mine, theirs in zip(served["beams"], local["beams"]):
        assert (mine["text"], mine["tokens"], mine["finished"]) == (theirs["text"], theirs["tokens"], theirs["finished"])
        for score in ("lm_score", "modality_score", "classifier_score"):
            assert (mine[score] is None) == (theirs[score] is None), score
            if mine[score] is not None:
                assert mine[score] == pytest.approx(theirs[score], rel=1e-4, abs=1e-5), score


def error_of(response: requests.Response) -> dict:
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    return response.json()["error"]


# --- good requests -----------------------------------------------------------------------------


def test_audio_upload_is_captioned_by_the_remote_scorers(service):
    wav = wav_bytes()
    response = service.post(files={"file": ("tone.wav", wav, "audio/wav")})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["modality"] == "audio" and body["input"] == "tone.wav"
    assert body["model_ids"] == {"language_model": "tiny:gpt2", "audio_encoder": "tiny:clap",
                                 "classifier": "tiny:bert-classifier"}
    assert body["caption"] == body["beams"][0]["text"] and body["warnings"] == []
    # Encoder and classifier ran in other replicas, through handles, inside the loop.
    assert body["batching"]["embed_texts"]["calls"] >= 1 and body["batching"]["classifier"]["calls"] >= 1


VIDEO = (Path(__file__).parent.parent / "cgcap" / "samples" / "cat_bell.mp4").read_bytes()


@pytest.mark.parametrize(
    "filename, make_content, options",
    [
        ("tone.wav", wav_bytes, {}),
        ("astronaut.png", png_bytes, {"max_tokens": 3}),
        ("cat_bell.mp4", lambda: VIDEO, {"max_tokens": 3}),
        ("cat_bell.mp4", lambda: VIDEO, {"max_tokens": 3, "modality": "image"}),  # frames only: no audio encoder
        ("tone.wav", wav_bytes, {"classifier_form": "expected"}),
        ("tone.wav", wav_bytes, {"classifier_form": "additive", "lambda_cls": 0.0}),  # counts through w·λ_mod
        ("tone.wav", wav_bytes, {"classifier_form": "additive", "lambda_modality": 0.0}),  # classifier off
        ("tone.wav", wav_bytes, {"lambda_cls": 0.0}),  # plain ZeroCap
        ("tone.wav", wav_bytes, {"classifier": "tiny:bert-classifier@1"}),
    ],
    ids=["audio", "image", "video-both", "video-frames", "expected", "additive-lambda1-0", "additive-off",
         "no-classifier", "seeded-classifier"],
)
def test_the_service_answers_exactly_what_the_captioner_answers(service, filename, make_content, options):
    content = make_content()
    response = service.post(files={"file": (filename, content, "application/octet-stream")},
                            data={"options": json.dumps(options)})
    assert response.status_code == 200, response.text
    served = response.json()
    assert_same_caption(served, in_process(service.settings, content, filename, options))
    guided_by_classifier = "classifier" in served["model_ids"]
    assert guided_by_classifier == (served["beams"][0]["classifier_score"] is not None)


def test_a_wav_a_few_bytes_short_is_captioned_and_its_response_says_what_was_wrong(service):
    response = service.post(files={"file": ("short.wav", wav_bytes()[:-7], "audio/wav")},
                            data={"options": json.dumps({"max_tokens": 2})})
    assert response.status_code == 200, response.text
    assert response.json()["warnings"] == [
        "truncated: its header declares 32,044 bytes, 32,037 arrived (0.02% missing); captioned what arrived"]


def test_image_as_base64_json_uses_the_image_encoder_and_request_options(service):
    png = png_bytes()
    payload = {"content_base64": base64.b64encode(png).decode(), "filename": "astronaut.png",
               "options": {"prompt": "Image of a", "max_tokens": 3, "modality": "image"}}
    response = service.post(json=payload)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["modality"] == "image" and body["model_ids"]["image_encoder"] == "tiny:clip"
    assert body["caption"].startswith("Image of a")
    assert body["timings"]["tokens"] <= 3
    assert body["settings"]["request_options"] == {"prompt": "Image of a", "max_tokens": 3}


def test_streaming_sends_token_events_then_the_same_result(service):
    wav = wav_bytes()
    plain = service.post(files={"file": ("tone.wav", wav, "audio/wav")}).json()
    response = service.post(path="/v1/captions?stream=true", files={"file": ("tone.wav", wav, "audio/wav")})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [(block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
              for block in response.text.strip().split("\n\n")]
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"token"} and len(kinds) > 1
    assert [data["step"] for _, data in events[:-1]] == list(range(len(events) - 1))
    assert events[-1][1]["caption"] == plain["caption"]
    assert events[-2][1]["text"] == plain["caption"]


def test_health_models_and_openapi_docs(service):
    health = service.get("/v1/health", key=None).json()
    assert health["status"] == "ok" and health["profile"] == "tiny"
    assert set(health["deployments"]) == {"Encoder", "Classifier", "GuidedDecoder"}
    models = service.get("/v1/models").json()
    assert models["language_model"] == "tiny:gpt2" and models["default_classifier"] == "tiny:bert-classifier"
    assert "tiny:bert-classifier" in models["named_classifiers"]
    schema = requests.get(service.url + "/openapi.json", timeout=30).json()
    assert set(schema["paths"]["/v1/captions"]["post"]["requestBody"]["content"]) == {
        "multipart/form-data", "application/json"}
    assert requests.get(service.url + "/docs", timeout=30).status_code == 200


# --- bad input: 4xx with a JSON body naming the problem, never a 500 ---------------------------


def test_missing_or_wrong_api_key_is_401(service):
    wav = wav_bytes()
    for key, words in ((None, "Bearer"), ("wrong", "not valid")):
        response = service.post(key=key, files={"file": ("tone.wav", wav, "audio/wav")})
        assert response.status_code == 401
        assert words in error_of(response)["message"]
    assert service.get("/v1/models", key=None).status_code == 401


@pytest.mark.parametrize(
    "make_upload, status, code, words",
    [
        (lambda: ("big.wav", b"RIFF" + bytes(1_100_000)), 413, "upload_too_large", "limited to 1000000 bytes"),
        (lambda: ("huge.png", png_bytes((600, 600))), 413, "upload_too_large", "the limit is 300,000"),
        (lambda: ("notes.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n"), 415,
         "unsupported_media_type", "notes.pdf"),
        (lambda: ("cut.png", png_bytes()[:2000]), 422, "invalid_media", "cut.png"),
        (lambda: ("quiet.wav", wav_bytes(amplitude=0.0)), 422, "invalid_media", "silent"),
        (lambda: ("long.wav", wav_bytes(seconds=5.0)), 422, "invalid_media", "the limit is 4 s"),
        (lambda: ("empty.wav", b""), 422, "invalid_media", "empty"),
    ],
    ids=["too-many-bytes", "too-many-pixels", "unsupported-type", "truncated-image", "silent-audio",
         "audio-too-long", "empty-file"],
)
def test_bad_media_gets_its_status_and_names_the_problem(service, make_upload, status, code, words):
    filename, content = make_upload()
    response = service.post(files={"file": (filename, content, "application/octet-stream")})
    assert response.status_code == status, response.text
    error = error_of(response)
    assert (error["status"], error["code"]) == (status, code)
    assert words in error["message"]


@pytest.mark.parametrize(
    "options, field, words",
    [
        ({"top_k": 0}, "options.top_k", "greater than or equal to 1"),
        ({"top_k": 100000}, "options.top_k", "limit of 2048"),
        ({"top_k": "100000"}, "options.top_k", "limit of 2048"),  # a string pydantic would convert
        ({"top_k": 1000}, "options", "larger than the vocabulary"),
        ({"beam_size": "five"}, "options.beam_size", "valid integer"),
        ({"temperature": 1}, "options.temperature", "unknown option 'temperature'"),
        ({"classifier": "/etc/passwd"}, "options.classifier", "not allowed"),
        ({"classifier": "models:/no-such-classifier@champion"}, "options.classifier", "no-such-classifier"),
        ({"modality": "image"}, "options.modality", "the file is audio"),
    ],
    ids=["below-range", "above-service-limit", "above-service-limit-as-text", "above-vocabulary", "wrong-type", "unknown-key",
         "server-path", "unregistered-mlflow-model", "modality-mismatch"],
)
def test_bad_options_are_422_naming_the_option(service, options, field, words):
    response = service.post(files={"file": ("tone.wav", wav_bytes(), "audio/wav")},
                            data={"options": json.dumps(options)})
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["field"] == field and words in error["message"]


@pytest.mark.parametrize(
    "kwargs, status, words",
    [
        ({"data": b"raw bytes", "headers": {"Content-Type": "audio/wav"}}, 415, "audio/wav"),
        ({"data": {"options": "{}"}, "files": {"other": ("a.txt", b"x")}}, 422, "unknown form field 'other'"),
        ({"files": {"file": ("tone.wav", b"RIFF")}, "data": {"options": "{not json"}}, 422, "JSON object"),
        ({"json": {"filename": "a.wav"}}, 422, "content_base64"),
        ({"json": {"content_base64": "%%%not base64%%%"}}, 422, "not valid base64"),
        ({"data": b"{broken", "headers": {"Content-Type": "application/json"}}, 422, "not valid JSON"),
        # A chunked body declares no length, so it could grow without bound before any size check.
        ({"data": iter([b'{"content_base64": "', b"AAAA" * 1024, b'"}']),
          "headers": {"Content-Type": "application/json"}}, 411, "Content-Length"),
    ],
    ids=["wrong-content-type", "unknown-form-field", "options-not-json", "json-without-content",
         "bad-base64", "broken-json-body", "chunked-without-length"],
)
def test_malformed_requests_are_4xx_json(service, kwargs, status, words):
    headers = {"Authorization": f"Bearer {API_KEY}", **kwargs.pop("headers", {})}
    response = requests.post(service.url + "/v1/captions", headers=headers, timeout=60, **kwargs)
    assert response.status_code == status, response.text
    assert words in error_of(response)["message"]


# --- Serve behaviour: multiplexed classifiers, batching, recovery --------------------------------


def test_each_modality_is_steered_by_its_own_classifier_as_in_the_captioner(service):
    from cgcap.captioner import Captioner

    png, wav = png_bytes((96, 64)), wav_bytes()
    options = {"options": json.dumps({"max_tokens": 3})}
    image = service.post(files={"file": ("astronaut.png", png, "image/png")}, data=options).json()
    audio = service.post(files={"file": ("tone.wav", wav, "audio/wav")}, data=options).json()
    assert image["guide"] == {"rule": "image", "classifier": "tiny:bert-classifier@2", "wanted_label": 0,
                              "weight": 0.6}
    assert image["model_ids"]["classifier"] == "tiny:bert-classifier@2"
    assert audio["guide"]["classifier"] == "tiny:bert-classifier" and audio["guide"]["wanted_label"] == 1
    captioner = Captioner.from_settings(service.settings)
    for body, source, name in ((image, png, "astronaut.png"), (audio, wav, "tone.wav")):
        expected = captioner.caption(source, filename=name, options={"max_tokens": 3})
        assert body["caption"] == expected.caption and body["guide"] == expected.guide.model_dump()
    models = service.get("/v1/models").json()
    assert models["classifiers"] == {"audio": "tiny:bert-classifier", "image": "tiny:bert-classifier@2"}



def test_request_picks_a_non_default_classifier_by_model_id(service):
    wav = wav_bytes()
    uri = register_mlflow_classifier(service.settings.tracking.tracking_uri, "tiny:bert-classifier@1",
                                     "serve-test-classifier")

    def caption_with(classifier):
        options = {} if classifier is None else {"classifier": classifier}
        response = service.post(files={"file": ("tone.wav", wav, "audio/wav")}, data={"options": json.dumps(options)})
        assert response.status_code == 200, response.text
        return response.json()

    default, seeded, registered = caption_with(None), caption_with("tiny:bert-classifier@1"), caption_with(uri)
    assert default["model_ids"]["classifier"] == "tiny:bert-classifier"
    assert seeded["model_ids"]["classifier"] == "tiny:bert-classifier@1"
    assert registered["model_ids"]["classifier"] == uri
    # Other weights give other scores; the MLflow model holds the same weights as seed 1.
    assert default["beams"][0]["classifier_score"] != pytest.approx(seeded["beams"][0]["classifier_score"])
    assert registered["caption"] == seeded["caption"]
    assert registered["beams"][0]["classifier_score"] == pytest.approx(seeded["beams"][0]["classifier_score"])
    loaded = service.get("/v1/models").json()["loaded_classifiers"]
    assert {"tiny:bert-classifier", "tiny:bert-classifier@1", uri} <= set(loaded)
    # /v1/health answers without the API key, so it must not tell which classifiers other clients use.
    health = requests.get(service.url + "/v1/health", timeout=60).json()
    assert not any(stats.get("loaded_classifiers") for stats in health["deployments"].values())


def test_concurrent_requests_share_scorer_passes(service):
    wav = wav_bytes()
    before = service.get("/v1/health").json()["deployments"]

    def one(_):
        return service.post(files={"file": ("tone.wav", wav, "audio/wav")})

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(one, range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    bodies = [r.json() for r in responses]
    # Same input and settings: batching must not change the answer.
    assert len({b["caption"] for b in bodies}) == 1
    largest = max(max(b["batching"]["embed_texts"]["max_batch"], b["batching"]["classifier"]["max_batch"])
                  for b in bodies)
    assert largest > 1, [b["batching"] for b in bodies]
    # The decoder's loop sends the candidates of requests decoded together in one call (so @serve.batch in the
    # Encoder and Classifier has little left to merge): either way, fewer passes than the requests' calls.
    after = service.get("/v1/health").json()["deployments"]
    grew = sum(after["Classifier"]["batch_sizes"]["classifier"].values()) - sum(
        before["Classifier"]["batch_sizes"]["classifier"].values())
    total_calls = sum(b["batching"]["classifier"]["calls"] for b in bodies)
    assert grew < total_calls  # fewer forward passes than calls: that is what batching buys


def test_concurrent_requests_join_one_decoding_loop_and_each_gets_its_own_caption(service):
    """Audio and images (different prompts, so rows of different lengths) decoded in the replica's one loop:
    each answer is what the in-process captioner writes for that input alone."""
    inputs = [("tone.wav", wav_bytes(), {"max_tokens": 4}), ("astronaut.png", png_bytes((96, 96)), {"max_tokens": 4}),
              ("low.wav", wav_bytes(amplitude=0.05), {"max_tokens": 5, "num_iterations": 2})] * 2
    before = _decodes(service)["loop_tokens"]

    def one(item):
        name, content, options = item
        return service.post(files={"file": (name, content, "application/octet-stream")},
                            data={"options": json.dumps(options)})

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(one, inputs))
    assert [r.status_code for r in responses] == [200] * 6, [r.text[:200] for r in responses]
    for (name, content, options), response in zip(inputs[:3], responses[:3]):
        assert_same_caption(response.json(), in_process(service.settings, content, name, options))
    for first, second in zip(responses[:3], responses[3:]):
        assert first.json()["caption"] == second.json()["caption"]
    decodes = _decodes(service)
    assert decodes["loop_most_rows"] > 1  # requests shared language-model passes
    # Six captions of 4-5 tokens each took fewer loop steps than decoding them one after another.
    assert decodes["loop_tokens"] - before < 4 + 4 + 5 + 4 + 4 + 5


def test_streaming_request_for_a_missing_classifier_is_a_422_before_any_event(service):
    options = {"classifier": "models:/no-such-classifier@champion"}
    response = service.post(path="/v1/captions?stream=true", files={"file": ("tone.wav", wav_bytes(), "audio/wav")},
                            data={"options": json.dumps(options)})
    assert response.status_code == 422
    assert error_of(response)["code"] == "classifier_not_found"


def _decodes(service) -> dict:
    return service.get("/v1/health").json()["deployments"]["GuidedDecoder"]["decodes"]


def _wait_for_decodes(service, cancelled: int) -> dict:
    deadline = time.monotonic() + 90
    while True:
        decodes = _decodes(service)
        if (decodes["running"] == 0 and decodes["cancelled"] >= cancelled) or time.monotonic() > deadline:
            return decodes
        time.sleep(0.5)


# As long as the service allows, and the end token discouraged, so only a stop can end it early.
LONG_DECODE = {"max_tokens": 64, "num_iterations": 20, "end_factor": 0.01}


def test_a_client_that_disconnects_stops_its_decode_and_frees_its_slot(service):
    wav = wav_bytes()
    before = _wait_for_decodes(service, 0)["cancelled"]
    with requests.post(service.url + "/v1/captions?stream=true", headers={"Authorization": f"Bearer {API_KEY}"},
                       files={"file": ("tone.wav", wav, "audio/wav")}, data={"options": json.dumps(LONG_DECODE)},
                       stream=True, timeout=120) as response:
        assert response.status_code == 200
        lines = response.iter_lines()  # kept open: closing this generator would close the connection
        assert next(line for line in lines if line.startswith(b"event:")) == b"event: token"
        assert _decodes(service)["running"] == 1
    # The stream is closed after one token: the decode stops instead of writing 63 more.
    after = _wait_for_decodes(service, before + 1)
    assert (after["running"], after["cancelled"]) == (0, before + 1)

    with pytest.raises(requests.exceptions.ReadTimeout):  # a plain request whose client gives up
        requests.post(service.url + "/v1/captions", headers={"Authorization": f"Bearer {API_KEY}"},
                      files={"file": ("tone.wav", wav, "audio/wav")}, data={"options": json.dumps(LONG_DECODE)},
                      timeout=3)
    after = _wait_for_decodes(service, before + 2)
    assert (after["running"], after["cancelled"]) == (0, before + 2)
    assert service.post(files={"file": ("tone.wav", wav, "audio/wav")}).status_code == 200


def test_service_recovers_after_the_decoder_replica_is_killed_under_load(service):
    import ray

    wav = wav_bytes()
    replica = service.get("/v1/health").json()["deployments"]["GuidedDecoder"]["replica"]

    def one(_):
        return service.post(files={"file": ("tone.wav", wav, "audio/wav")},
                            data={"options": json.dumps({"max_tokens": 6, "num_iterations": 3})})

    with ThreadPoolExecutor(6) as pool:
        in_flight = [pool.submit(one, i) for i in range(6)]
        time.sleep(0.5)
        ray.kill(ray.get_actor(replica, namespace="serve"), no_restart=True)
        during = [future.result() for future in in_flight]
    # Requests caught by the kill fail cleanly as 503 (retry), never a 500 or a traceback.
    for response in during:
        assert response.status_code in (200, 503), response.text
        if response.status_code == 503:
            assert error_of(response)["code"] == "service_unavailable"

    deadline = time.monotonic() + 120
    while True:
        response = one(0)
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert response.status_code == 200, response.text
    with ThreadPoolExecutor(3) as pool:
        later = list(pool.map(one, range(3)))
    assert [r.status_code for r in later] == [200] * 3
    new_replica = service.get("/v1/health").json()["deployments"]["GuidedDecoder"]["replica"]
    assert new_replica != replica  # Serve replaced the dead replica

