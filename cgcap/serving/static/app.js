// The page around POST /v1/captions?stream=true: no framework, no build step, no network beyond this service.
"use strict";

const $ = (selector) => document.querySelector(selector);
const KEY = "cgcap-api-key";
const TITLES = {
  0: "The request was not sent:", // found in the page, before or instead of any HTTP answer
  401: "The service needs a valid API key.",
  411: "The upload did not say its size.",
  413: "The file is too large.",
  415: "This file type is not accepted.",
  422: "The service could not caption this request.",
  500: "The service failed.",
  503: "The service is busy or restarting; try again in a moment.",
};

let service = { api_key_required: false, options: {}, limits: {} };
let chosen = null; // the File to caption: picked, dropped or recorded

function headers() {
  const key = sessionStorage.getItem(KEY);
  return key ? { Authorization: `Bearer ${key}` } : {};
}

function show(element, visible) {
  element.hidden = !visible;
}

function clearErrors() {
  show($("#error"), false);
  document.querySelectorAll("[data-error-for]").forEach((e) => { e.textContent = ""; });
  $("#key-error").textContent = "";
}

// Every error the service sends is {error: {status, code, message, field}}; anything else
// (a proxy's HTML page, a dropped connection) still becomes a sentence, never raw text or a blank.
function showError(status, message, field) {
  $("#error-title").textContent = TITLES[status] || `The request failed (HTTP ${status}).`;
  $("#error-message").textContent = message || "";
  show($("#error"), true);
  const beside = field && document.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
  if (beside) beside.textContent = message;
  if (status === 401) askForKey(message);
  $("#status").textContent = "";
  $("#live").classList.remove("streaming");
  if ($("#live").dataset.tokenEvents === "0") show($("#output"), false); // nothing arrived to show
}

async function errorOf(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error;
  } catch (ignored) { /* not JSON: described by its status below */ }
  return { status: response.status, message: response.statusText || "no details", field: null };
}

function askForKey(message) {
  sessionStorage.removeItem(KEY);
  $("#key-error").textContent = message || "";
  show($("#key-form"), true);
  $("#api-key").focus();
}

async function loadService() {
  try {
    const response = await fetch("/v1/options");
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    service = await response.json();
  } catch (error) {
    showError(0, `could not read this service's options (${error.message}); is it running?`);
    return;
  }
  for (const input of document.querySelectorAll("[data-option][type=number]")) {
    const range = service.options[input.name];
    if (!range) continue;
    input.placeholder = String(range.default);
    if (range.minimum !== null) input.min = range.minimum;
    if (range.maximum !== null) input.max = range.maximum;
    const low = range.exclusive_minimum !== null ? `> ${range.exclusive_minimum}` : range.minimum;
    $(`[data-range-for="${input.name}"]`).textContent = `${low} to ${range.maximum}`;
  }
  const limits = service.limits;
  $("#limits").textContent = `Up to ${(limits.max_upload_bytes / 1e6).toFixed(1)} MB, ` +
    `${limits.max_audio_seconds} s of audio, ${limits.max_video_seconds} s of video, ` +
    `${(limits.max_image_pixels / 1e6).toFixed(1)} megapixels.`;
  if (service.api_key_required && !sessionStorage.getItem(KEY)) askForKey("");
  else loadClassifiers();
  $("#go").disabled = false;
}

// The classifier choices need the key (GET /v1/models); a free model id works without them.
async function loadClassifiers() {
  const response = await fetch("/v1/models", { headers: headers() });
  if (!response.ok) return;
  const models = await response.json();
  const ids = new Set([...Object.values(models.classifiers || {}), ...(models.named_classifiers || [])]);
  $("#classifiers").replaceChildren(...[...ids].map((id) => Object.assign(document.createElement("option"), { value: id })));
}

function choose(file) {
  chosen = file;
  clearErrors();
  const size = file && (file.size < 1024 ? `${file.size} bytes` : `${Math.round(file.size / 1024)} KB`);
  $("#chosen").textContent = file ? `${file.name} (${size})` : "";
  const kind = file && file.type.split("/")[0];
  const tag = { image: "img", audio: "audio", video: "video" }[kind];
  const preview = tag ? document.createElement(tag) : null;
  if (preview) {
    preview.src = URL.createObjectURL(file);
    preview.controls = tag !== "img";
  }
  $("#preview").replaceChildren(...(preview ? [preview] : []));
}

function options() {
  const chosenOptions = {};
  for (const input of document.querySelectorAll("[data-option]")) {
    if (input.validity.badInput) throw Object.assign(new Error("not a number"), { field: `options.${input.name}` });
    const value = input.value.trim();
    if (value === "") continue; // the service's default
    // The service checks ranges and says what is wrong; the page only sends numbers as numbers.
    chosenOptions[input.name] = input.type === "number" ? Number(value) : value;
  }
  return chosenOptions;
}

function logEvent(kind, text) {
  const item = document.createElement("li");
  item.dataset.kind = kind;
  item.textContent = text;
  $("#event-log").append(item);
}

function onToken(event) {
  const live = $("#live");
  live.textContent = event.text;
  live.dataset.tokenEvents = String(Number(live.dataset.tokenEvents) + 1);
  $("#status").textContent = `token ${event.step + 1}…`;
  logEvent("token", event.text);
}

function cell(row, text) {
  row.insertCell().textContent = text;
}

const score = (value) => (value === null || value === undefined ? "–" : value.toFixed(3));

function onResult(result, started) {
  logEvent("result", result.caption);
  $("#live").classList.remove("streaming");
  $("#live").textContent = "";
  $("#status").textContent = "";
  $("#caption").textContent = result.caption;
  $("#modality-score-name").textContent = result.modality_score_name || "modality";
  const rows = result.beams.map((beam, index) => {
    const row = document.createElement("tr");
    [String(index + 1), beam.text, score(beam.modality_score), score(beam.classifier_score),
      score(beam.lm_score)].forEach((text) => cell(row, text));
    return row;
  });
  $("#beams tbody").replaceChildren(...rows);
  const guide = result.guide;
  $("#guide").textContent = guide
    ? `Guided by classifier ${guide.classifier} (${guide.rule} rule, towards label ${guide.wanted_label}, weight ${guide.weight})`
    : "No classifier guided this caption (its weight is 0).";
  const ids = Object.entries(result.model_ids || {}).flatMap(([role, id]) => [
    Object.assign(document.createElement("dt"), { textContent: role.replaceAll("_", " ") }),
    Object.assign(document.createElement("dd"), { textContent: id || "none" }),
  ]);
  $("#model-ids").replaceChildren(...ids);
  const total = result.timings && result.timings.total;
  const browser = (performance.now() - started) / 1000;
  $("#timing").textContent = `${total !== undefined ? total.toFixed(2) : "?"} s on the service, ` +
    `${browser.toFixed(2)} s in all; ${result.modality}, request ${result.request_id}`;
  $("#warnings").replaceChildren(...(result.warnings || []).map((warning) =>
    Object.assign(document.createElement("li"), { textContent: `Warning: ${warning}` })));
  show($("#result"), true);
}

// Server-sent events over a POST body: EventSource can only GET, so the stream is read by hand.
async function readEvents(response, handle) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let kind = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) kind = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
      }
      if (data.length) handle(kind, JSON.parse(data.join("\n")));
    }
  }
}

async function caption(submit) {
  submit.preventDefault();
  clearErrors();
  if (!chosen) return showError(0, "choose, drop or record a file first.");
  if (service.api_key_required && !sessionStorage.getItem(KEY)) return askForKey("enter the key first.");
  let chosenOptions;
  try {
    chosenOptions = options();
  } catch (error) {
    return showError(422, error.message, error.field);
  }
  const body = new FormData();
  body.append("file", chosen, chosen.name);
  body.append("options", JSON.stringify(chosenOptions));
  show($("#output"), true);
  show($("#result"), false);
  $("#event-log").replaceChildren();
  const live = $("#live");
  live.textContent = "";
  live.dataset.tokenEvents = "0";
  live.classList.add("streaming");
  $("#status").textContent = "uploading…";
  $("#go").disabled = true;
  const started = performance.now();
  let finished = false;
  try {
    const response = await fetch("/v1/captions?stream=true", { method: "POST", headers: headers(), body });
    if (!response.ok) {
      const error = await errorOf(response);
      return showError(response.status, error.message, error.field);
    }
    $("#status").textContent = "captioning…";
    await readEvents(response, (kind, data) => {
      if (kind === "token") onToken(data);
      else if (kind === "result") { finished = true; onResult(data, started); }
      else if (kind === "error") { finished = true; logEvent("error", data.message); showError(data.status, data.message, data.field); }
    });
    if (!finished) showError(503, "the stream ended before the caption did; try again.");
  } catch (error) {
    showError(0, `could not reach the service (${error.message}).`);
  } finally {
    $("#go").disabled = false;
  }
}

// A short microphone clip, where the browser allows it (MediaRecorder needs a secure origin: localhost counts).
function setUpRecording() {
  const button = $("#record");
  if (!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder)) return;
  show(button, true);
  let recorder = null;
  button.addEventListener("click", async () => {
    if (recorder) return recorder.stop();
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (error) {
      return showError(0, `the microphone is not available (${error.message}).`);
    }
    const parts = [];
    recorder = new MediaRecorder(stream);
    recorder.ondataavailable = (event) => parts.push(event.data);
    recorder.onstop = () => {
      stream.getTracks().forEach((track) => track.stop());
      const type = recorder.mimeType || "audio/webm";
      const extension = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
      choose(new File(parts, `recording.${extension}`, { type }));
      recorder = null;
      button.textContent = "Record";
    };
    recorder.start();
    button.textContent = "Stop";
    // Stay under the service's audio limit: stop on its own before it (this recording, not a later one).
    const seconds = Math.min(10, (service.limits.max_audio_seconds || 10) - 0.5);
    const current = recorder;
    setTimeout(() => current.state === "recording" && current.stop(), seconds * 1000);
  });
}

function setUp() {
  const drop = $("#drop");
  $("#file").addEventListener("change", (event) => choose(event.target.files[0] || null));
  drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    drop.classList.remove("over");
    if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
  });
  $("#caption-form").addEventListener("submit", caption);
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#api-key").value.trim();
    if (!key) return;
    sessionStorage.setItem(KEY, key);
    $("#api-key").value = "";
    show($("#key-form"), false);
    clearErrors();
    loadClassifiers();
  });
  setUpRecording();
  loadService();
}

setUp();
