"""``cgcap classifier generate-data`` against a local fake OpenAI-compatible chat endpoint."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cgcap.cli import main


class FakeChatEndpoint:
    """Answers /v1/chat/completions like an OpenAI server; replies are queued per class."""

    def __init__(self, audible_replies: list[str], inaudible_replies: list[str], status: int = 200):
        self.replies = {"audible": list(audible_replies), "inaudible": list(inaudible_replies)}
        self.status = status
        self.requests: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                endpoint.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                prompt = body["messages"][-1]["content"]
                kind = "inaudible" if "cannot be" in prompt else "audible"  # label 0 of either recipe
                queue = endpoint.replies[kind]
                content = queue.pop(0) if queue else ""
                answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}
                payload = json.dumps(answer if endpoint.status == 200 else {"error": "invalid api key"}).encode()
                self.send_response(endpoint.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def environment(monkeypatch):
    def point_at(endpoint: FakeChatEndpoint):
        monkeypatch.setenv("CGCAP_LLM_BASE_URL", endpoint.url)
        monkeypatch.setenv("CGCAP_LLM_MODEL", "fake-gpt")
        monkeypatch.setenv("CGCAP_LLM_API_KEY", "secret-key")
    return point_at


def lines(path) -> list[str]:
    return path.read_text().splitlines()


def test_new_sentences_are_appended_without_repeating_existing_or_earlier_ones(tmp_path, environment, capsys):
    existing = tmp_path / "reference_audible.txt"
    existing.write_text("The buzz of a chainsaw cutting wood.\n")
    positives, negatives = tmp_path / "audible.txt", tmp_path / "not_audible.txt"
    positives.write_text("A dog barks.\n")
    audible = ["1. A dog barks.\n2. the buzz of a  chainsaw cutting wood.\n3. Rain drums on a tin roof.",
               "- Rain drums on a tin roof.\n- \"A kettle whistles.\"\n- Church bells ring at noon."]
    inaudible = ["1) A map lies folded.\n2) Moss grows on a stone.\n3) A photo fades.", "* A shadow moves."]
    with FakeChatEndpoint(audible, inaudible) as endpoint:
        environment(endpoint)
        code = main(["classifier", "generate-data", "--positives", str(positives), "--negatives", str(negatives),
                     "--count", "3", "--existing", str(existing), "--per-request", "3", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    # Kept: new sentences only, with list markers and quotes removed; the old line stays first.
    assert lines(positives) == ["A dog barks.", "Rain drums on a tin roof.", "A kettle whistles.", "Church bells ring at noon."]
    assert lines(negatives) == ["A map lies folded.", "Moss grows on a stone.", "A photo fades."]
    assert report["written"] == {"positives": 3, "negatives": 3}
    assert report["rejected_duplicates"] == 3  # dog (in the output), chainsaw (in --existing), rain (repeated)
    assert report["requests"] == 3


def test_requests_follow_the_published_prompts_with_varied_themes_and_carry_model_and_key(tmp_path, environment):
    audible = [f"Sound number {i} is loud." for i in range(4)]
    inaudible = [f"Picture number {i} is still." for i in range(4)]
    with FakeChatEndpoint(audible, inaudible) as endpoint:
        environment(endpoint)
        code = main(["classifier", "generate-data", "--positives", str(tmp_path / "p.txt"),
                     "--negatives", str(tmp_path / "n.txt"), "--count", "2", "--per-request", "1"])
    assert code == 0
    assert [r["path"] for r in endpoint.requests] == ["/v1/chat/completions"] * 4
    assert {r["auth"] for r in endpoint.requests} == {"Bearer secret-key"}
    assert {r["body"]["model"] for r in endpoint.requests} == {"fake-gpt"}
    prompts = [r["body"]["messages"][-1]["content"] for r in endpoint.requests]
    assert "can be heard" in prompts[0] and "cannot be heard" not in prompts[0]
    assert "cannot be heard" in prompts[2]
    assert all("one per line" in p for p in prompts)
    themes = [p.split("Theme: ")[1].split(".")[0] for p in prompts]
    assert len(set(themes)) == 4  # every request asks about something else


def test_the_visual_recipe_asks_for_what_can_and_cannot_be_seen(tmp_path, environment):
    seen = ["A red kite hangs above a green hill.\nA cat sleeps on a blue sofa."]
    unseen = ["The hum of a fridge at night.\nThe smell of fresh bread."]
    positives, negatives = tmp_path / "visual.txt", tmp_path / "not_visual.txt"
    with FakeChatEndpoint(seen, unseen) as endpoint:
        environment(endpoint)
        code = main(["classifier", "generate-data", "--recipe", "visual", "--positives", str(positives),
                     "--negatives", str(negatives), "--count", "2", "--per-request", "2"])
    assert code == 0
    prompts = [r["body"]["messages"][-1]["content"] for r in endpoint.requests]
    assert "can be seen in a photograph" in prompts[0] and "cannot be seen" in prompts[1]
    assert not any("heard" in prompt for prompt in prompts)
    assert lines(positives) == ["A red kite hangs above a green hill.", "A cat sleeps on a blue sofa."]
    assert lines(negatives) == ["The hum of a fridge at night.", "The smell of fresh bread."]


def test_a_sentence_generated_for_both_classes_is_written_to_neither(tmp_path, environment):
    with FakeChatEndpoint(["A fan hums.\nA door creaks."], ["A door creaks.\nA rug lies flat."]) as endpoint:
        environment(endpoint)
        code = main(["classifier", "generate-data", "--positives", str(tmp_path / "p.txt"),
                     "--negatives", str(tmp_path / "n.txt"), "--count", "2", "--max-requests", "2"])
    assert code == 0
    assert lines(tmp_path / "p.txt") == ["A fan hums."]
    assert lines(tmp_path / "n.txt") == ["A rug lies flat."]


def test_missing_endpoint_settings_are_named(tmp_path, monkeypatch, capsys):
    for name in ("CGCAP_LLM_BASE_URL", "CGCAP_LLM_MODEL", "CGCAP_LLM_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    code = main(["classifier", "generate-data", "--positives", str(tmp_path / "p.txt"),
                 "--negatives", str(tmp_path / "n.txt")])
    assert code == 2
    assert "CGCAP_LLM_BASE_URL and CGCAP_LLM_MODEL" in capsys.readouterr().err


def test_an_endpoint_refusal_is_reported_with_its_status_and_nothing_is_written(tmp_path, environment, capsys):
    with FakeChatEndpoint(["A fan hums."], ["A rug lies flat."], status=401) as endpoint:
        environment(endpoint)
        code = main(["classifier", "generate-data", "--positives", str(tmp_path / "p.txt"),
                     "--negatives", str(tmp_path / "n.txt"), "--count", "1"])
    assert code == 2
    assert "HTTP 401" in capsys.readouterr().err
    assert not (tmp_path / "p.txt").exists()


@pytest.mark.parametrize("option", ["--per-request", "--count", "--max-requests"])
def test_generate_data_counts_below_one_are_refused_by_option(tmp_path, option, capsys):
    from cgcap.cli import main

    with pytest.raises(SystemExit) as refused:
        main(["classifier", "generate-data", "--positives", str(tmp_path / "a.txt"),
              "--negatives", str(tmp_path / "b.txt"), option, "0"])
    assert refused.value.code == 2 and f"{option}: must be at least 1" in capsys.readouterr().err
