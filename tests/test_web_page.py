"""The page at ``GET /`` in a real browser (headless Chromium through selenium) against the
Serve application on the tiny profile, in-process as in tests/test_serve_http.py.

The page keeps what arrived, in order, in ``#event-log`` (token events, then the result) and
counts token events in ``#live[data-token-events]``: the tests read those after a caption is
done, so that tokens came first is checked without racing the decoder.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path

import pytest
import requests
import soundfile

from test_serve_http import tiny_service

SAMPLES = Path(__file__).parent.parent / "cgcap" / "samples"
API_KEY_ENV = "CGCAP_WEB_TEST_API_KEY"
API_KEY = "web-test-key-51c2"
MAX_UPLOAD_BYTES = 1_000_000
OVERRIDES = [f"serve.api_key_env={API_KEY_ENV}", f"limits.max_upload_bytes={MAX_UPLOAD_BYTES}"]
# Where the screenshots go (mid-stream and after the result); a temporary folder unless set.
SCREENSHOTS_ENV = "CGCAP_WEB_SCREENSHOTS"

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,  # the Serve application on a local Ray, and a browser
    pytest.mark.skipif(CHROMIUM is None or CHROMEDRIVER is None,
                       reason="needs Debian's chromium and chromium-driver (scripts/install.sh --dev installs them)"),
]


@pytest.fixture(scope="module")
def url():
    yield from tiny_service(API_KEY_ENV, API_KEY, OVERRIDES)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1100,1500", "--no-first-run", "--disable-extensions",
                     # A fake microphone (a beep) that needs no permission prompt, for the Record button.
                     "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(argument)
    # The driver is named, so selenium never looks for one on the internet.
    driver = webdriver.Chrome(options=options, service=DriverService(CHROMEDRIVER))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("uploads")
    audio, rate = soundfile.read(SAMPLES / "bell.flac", dtype="float32")
    soundfile.write(folder / "bell.wav", audio, rate, subtype="PCM_16")  # a real recording, as a WAV
    shutil.copy(SAMPLES / "chelsea.jpg", folder / "chelsea.jpg")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n")
    (folder / "big.wav").write_bytes(b"RIFF" + bytes(MAX_UPLOAD_BYTES + 100_000))
    return {path.name: path for path in folder.iterdir()}


# --- driving the page ---------------------------------------------------------------------------


def find(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, selector)


def wait(driver, condition, seconds: float = 120, poll: float = 0.1):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=poll).until(lambda d: condition(d))


def open_page(driver, url: str, key: str | None = API_KEY) -> None:
    """Load the page, wait until it has read the service's options, and give it the key if it asks."""
    driver.get(url + "/")
    wait(driver, lambda d: find(d, "#go").is_enabled(), 30)
    if key and find(driver, "#key-form").is_displayed():
        find(driver, "#api-key").send_keys(key)
        find(driver, "#key-form button").click()
        wait(driver, lambda d: not find(d, "#key-form").is_displayed(), 10)


def set_options(driver, options: dict) -> None:
    for name, value in options.items():
        field = find(driver, f'[data-option][name="{name}"]')
        field.clear()
        field.send_keys(str(value))


def caption_on_page(driver, path: Path, options: dict | None = None) -> None:
    set_options(driver, options or {})
    find(driver, "#file").send_keys(str(path))
    find(driver, "#go").click()
    wait(driver, lambda d: find(d, "#result").is_displayed() or find(d, "#error").is_displayed())


def drop_on_page(driver, name: str, content: bytes) -> None:
    """What a drag and drop delivers: a File in a drop event's DataTransfer, on the drop zone."""
    driver.execute_script("""
        const [name, bytes] = arguments;
        const transfer = new DataTransfer();
        transfer.items.add(new File([new Uint8Array(bytes)], name));
        document.querySelector('#drop').dispatchEvent(new DragEvent('drop', {dataTransfer: transfer, bubbles: true}));
    """, name, list(content))


def event_log(driver) -> list[tuple[str, str]]:
    return driver.execute_script(
        "return [...document.querySelectorAll('#event-log li')].map(li => [li.dataset.kind, li.textContent]);")


def api_caption(url: str, path: Path, options: dict) -> requests.Response:
    return requests.post(url + "/v1/captions", headers={"Authorization": f"Bearer {API_KEY}"},
                         files={"file": (path.name, path.read_bytes(), "application/octet-stream")},
                         data={"options": json.dumps(options)}, timeout=120)


def screenshot(driver, name: str) -> None:
    """Keep a picture of the page where CGCAP_WEB_SCREENSHOTS names a folder (for a person to look at)."""
    if os.environ.get(SCREENSHOTS_ENV):
        Path(os.environ[SCREENSHOTS_ENV]).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(os.environ[SCREENSHOTS_ENV]) / name))


def shown_error(driver) -> tuple[str, str]:
    assert find(driver, "#error").is_displayed()
    return find(driver, "#error-title").text, find(driver, "#error-message").text


# --- the tests ----------------------------------------------------------------------------------


def test_the_page_is_served_with_its_files_and_reads_the_service_ceilings(url, browser):
    page = requests.get(url + "/", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset, kind in (("/static/app.js", "javascript"), ("/static/app.css", "text/css")):
        response = requests.get(url + asset, timeout=30)
        assert response.status_code == 200 and kind in response.headers["content-type"], asset
    described = requests.get(url + "/v1/options", timeout=30).json()  # no key needed to learn that one is
    assert described["api_key_required"] is True
    assert described["options"]["top_k"] | {"description": None} == {
        "type": "integer", "default": 16, "minimum": 1, "maximum": 2048, "exclusive_minimum": None,
        "max_length": None, "choices": None, "description": None}  # tiny profile's 16, serve.max_top_k 2048
    assert described["options"]["num_iterations"]["maximum"] == 20
    assert described["options"]["prompt"]["max_length"] == 500
    assert described["limits"]["max_upload_bytes"] == MAX_UPLOAD_BYTES

    open_page(browser, url)
    top_k = find(browser, '[name="top_k"]')
    assert (top_k.get_attribute("max"), top_k.get_attribute("placeholder")) == ("2048", "16")
    assert find(browser, '[data-range-for="num_iterations"]').text == "0 to 20"
    assert "1.0 MB" in find(browser, "#limits").text
    classifiers = wait(browser, lambda d: d.execute_script(
        "return [...document.querySelectorAll('#classifiers option')].map(o => o.value);"), 10)
    assert "tiny:bert-classifier" in classifiers  # from GET /v1/models, with the key


def test_the_page_asks_for_the_key_once_and_a_wrong_one_gets_a_readable_401(url, browser, files):
    browser.get(url + "/")
    browser.execute_script("sessionStorage.clear();")
    open_page(browser, url, key=None)
    assert find(browser, "#key-form").is_displayed()
    find(browser, "#api-key").send_keys("not-the-key")
    find(browser, "#key-form button").click()
    caption_on_page(browser, files["bell.wav"])
    title, message = shown_error(browser)
    assert title == "The service needs a valid API key." and message == "the API key is not valid"
    assert find(browser, "#key-form").is_displayed()  # a refused key is forgotten and asked for again
    assert browser.execute_script("return sessionStorage.getItem('cgcap-api-key');") is None

    find(browser, "#api-key").send_keys(API_KEY)
    find(browser, "#key-form button").click()
    browser.refresh()  # the key outlives a reload of the tab
    wait(browser, lambda d: find(d, "#go").is_enabled(), 30)
    assert not find(browser, "#key-form").is_displayed()
    assert browser.execute_script("return sessionStorage.getItem('cgcap-api-key');") == API_KEY


@pytest.mark.parametrize("name, options, score_name", [
    ("bell.wav", {"top_k": 8, "num_iterations": 1, "lambda_cls": 0.5}, "CLAP-S"),
    ("chelsea.jpg", {"top_k": 8, "num_iterations": 1, "classifier": "tiny:bert-classifier@1"}, "CLIP-S"),
])
def test_tokens_stream_onto_the_page_and_the_caption_is_the_json_apis(url, browser, files, name, options,
                                                                       score_name):
    open_page(browser, url)
    caption_on_page(browser, files[name], options)
    assert find(browser, "#result").is_displayed(), shown_error(browser)

    expected = api_caption(url, files[name], options)
    assert expected.status_code == 200, expected.text
    expected = expected.json()
    log = event_log(browser)
    kinds = [kind for kind, _ in log]
    # Every token event was on the page before the result, one log line each.
    assert kinds == ["token"] * (len(kinds) - 1) + ["result"] and len(kinds) >= 3
    assert int(find(browser, "#live").get_attribute("data-token-events")) == len(kinds) - 1
    texts = [text for kind, text in log if kind == "token"]
    assert len(texts[0]) < len(texts[-1])  # the text grew as it came
    # The last step's leading beam; with several beams the result ranks them once more at the end.
    assert texts[-1] in [beam["text"] for beam in expected["beams"]]
    if len(expected["beams"]) == 1:
        assert texts[-1] == expected["caption"]
    assert find(browser, "#caption").text == expected["caption"] == log[-1][1]

    rows = browser.execute_script("return [...document.querySelectorAll('#beams tbody tr')]"
                                  ".map(tr => [...tr.cells].map(td => td.textContent));")
    assert [row[1] for row in rows] == [beam["text"] for beam in expected["beams"]]
    assert [float(row[2]) for row in rows] == pytest.approx(
        [beam["modality_score"] for beam in expected["beams"]], abs=1e-3)
    assert [float(row[3]) for row in rows] == pytest.approx(
        [beam["classifier_score"] for beam in expected["beams"]], abs=1e-3)
    assert find(browser, "#modality-score-name").text == expected["modality_score_name"] == score_name
    assert expected["guide"]["classifier"] in find(browser, "#guide").text
    model_ids = dict(zip(*[[e.text for e in browser.find_elements("css selector", f"#model-ids {tag}")]
                           for tag in ("dt", "dd")]))
    assert model_ids == {role.replace("_", " "): model_id for role, model_id in expected["model_ids"].items()}
    assert " s on the service" in find(browser, "#timing").text
    assert not find(browser, "#error").is_displayed()


def test_a_short_wav_shows_the_media_warning(url, browser, files, tmp_path):
    clipped = tmp_path / "clipped.wav"
    clipped.write_bytes(files["bell.wav"].read_bytes()[:-7])  # a data chunk a few bytes short
    open_page(browser, url)
    caption_on_page(browser, clipped, {"top_k": 4, "num_iterations": 0})
    warnings = [e.text for e in browser.find_elements("css selector", "#warnings li")]
    expected = api_caption(url, clipped, {"top_k": 4, "num_iterations": 0}).json()["warnings"]
    assert expected and warnings == [f"Warning: {warning}" for warning in expected]


def test_an_out_of_range_option_shows_the_services_422_next_to_the_field(url, browser, files):
    open_page(browser, url)
    caption_on_page(browser, files["bell.wav"], {"top_k": 2049})
    expected = api_caption(url, files["bell.wav"], {"top_k": 2049})
    assert expected.status_code == 422
    message = expected.json()["error"]["message"]
    assert "limit of 2048" in message
    assert find(browser, '[data-error-for="options.top_k"]').text == message
    assert shown_error(browser) == ("The service could not caption this request.", message)
    assert not find(browser, "#result").is_displayed() and not find(browser, "#output").is_displayed()
    screenshot(browser, "page-422.png")


def test_a_junk_file_dropped_on_the_page_shows_the_415_message(url, browser, files):
    open_page(browser, url)
    drop_on_page(browser, "notes.pdf", files["notes.pdf"].read_bytes())
    assert find(browser, "#chosen").text.startswith("notes.pdf")
    find(browser, "#go").click()
    wait(browser, lambda d: find(d, "#error").is_displayed())
    expected = api_caption(url, files["notes.pdf"], {})
    assert expected.status_code == 415
    title, message = shown_error(browser)
    assert (title, message) == ("This file type is not accepted.", expected.json()["error"]["message"])
    assert "notes.pdf" in message and "{" not in message  # the message, not the JSON around it
    screenshot(browser, "page-415.png")


def test_a_file_over_the_upload_limit_shows_the_413_message(url, browser, files):
    open_page(browser, url)
    caption_on_page(browser, files["big.wav"])
    title, message = shown_error(browser)
    assert title == "The file is too large." and f"limited to {MAX_UPLOAD_BYTES} bytes" in message


def test_a_short_microphone_recording_is_captioned(url, browser):
    open_page(browser, url)
    record = find(browser, "#record")
    assert record.is_displayed()  # MediaRecorder and a microphone are there
    record.click()
    wait(browser, lambda d: find(d, "#record").text == "Stop", 10)
    time.sleep(1.5)
    record.click()
    wait(browser, lambda d: find(d, "#chosen").text.startswith("recording."), 10)
    set_options(browser, {"top_k": 4, "num_iterations": 0})
    find(browser, "#go").click()
    wait(browser, lambda d: find(d, "#result").is_displayed() or find(d, "#error").is_displayed())
    assert find(browser, "#result").is_displayed(), shown_error(browser)
    assert find(browser, "#caption").text.startswith("Audio of")
    assert find(browser, "#modality-score-name").text == "CLAP-S"


def test_screenshots_mid_stream_and_after_the_result(url, browser, tmp_path):
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    open_page(browser, url)
    # Long enough (a few seconds) that the page is caught between its tokens and the result.
    set_options(browser, {"num_iterations": 20, "max_tokens": 24})
    find(browser, "#file").send_keys(str(SAMPLES / "bell.flac"))
    find(browser, "#go").click()
    wait(browser, lambda d: int(find(d, "#live").get_attribute("data-token-events")) >= 2, poll=0.02)
    mid_stream = find(browser, "#live").text
    result_shown = find(browser, "#result").is_displayed()
    browser.save_screenshot(str(folder / "page-mid-stream.png"))
    wait(browser, lambda d: find(d, "#result").is_displayed())
    browser.save_screenshot(str(folder / "page-result.png"))
    assert mid_stream and not result_shown
    assert (folder / "page-mid-stream.png").stat().st_size > 10_000
    assert (folder / "page-result.png").stat().st_size > 10_000
