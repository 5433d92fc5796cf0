"""The audibility sentences on a fresh machine: found where they are, else fetched once from a pinned
source with a checksum, whole or not at all. The public host is not reachable here, so a local HTTP
server on 127.0.0.1 stands in for it; the code path is the one the install step runs."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial

import pytest

from cgcap.classifier import audibility_data
from cgcap.classifier.audibility_data import AudibilityDataError, ensure, fetch, find


@pytest.fixture
def source(tmp_path):
    """A folder served over HTTP like the public repository's audibility-dataset/."""
    folder = tmp_path / "served"
    folder.mkdir()
    (folder / "audible.txt").write_text("".join(f"A bell rings {i} times.\n" for i in range(1200)))
    (folder / "notAudible.txt").write_text("\n" + "".join(f"A map with {i} pins lies folded.\n" for i in range(1300)))
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def digests(folder) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("audible.txt", "notAudible.txt")}


def test_missing_sentences_are_fetched_once_with_their_checksums_checked(source, tmp_path, monkeypatch):
    folder, url = source
    target = tmp_path / "cache" / "audibility"
    found = ensure(folders=[tmp_path / "nothing-here"], target=target, base_url=url, checksums=digests(folder))
    assert found == (target / "audible.txt", target / "notAudible.txt")
    assert found[1].read_bytes() == (folder / "notAudible.txt").read_bytes()
    assert f"{digests(folder)['audible.txt']}  audible.txt" in (target / "SHA256SUMS").read_text()
    # Found the second time without asking the server.
    (folder / "audible.txt").unlink()
    assert ensure(folders=[target], target=target, base_url=url, checksums=digests(target)) == found


def test_a_download_with_the_wrong_checksum_leaves_nothing_behind(source, tmp_path):
    folder, url = source
    target = tmp_path / "cache" / "audibility"
    wrong = {**digests(folder), "notAudible.txt": "0" * 64}
    with pytest.raises(AudibilityDataError, match="notAudible.txt has SHA-256 .* not the pinned 0000"):
        fetch(target, base_url=url, checksums=wrong)
    assert not target.exists() and not list(target.parent.glob("*.partial"))


def test_an_error_page_or_an_unreachable_host_is_refused_with_what_to_do(source, tmp_path):
    folder, url = source
    (folder / "audible.txt").write_text("<html>rate limited</html>\n")
    with pytest.raises(AudibilityDataError, match="audible.txt holds 1 sentences"):
        fetch(tmp_path / "a", base_url=url, checksums={"audible.txt": None, "notAudible.txt": None})
    with pytest.raises(AudibilityDataError) as refused:
        ensure(folders=[tmp_path / "none"], target=tmp_path / "b", base_url="http://127.0.0.1:9/nothing", timeout=5)
    assert "cannot download http://127.0.0.1:9/nothing/audible.txt" in str(refused.value)
    assert audibility_data.DATA_ENV in str(refused.value) and audibility_data.SOURCE_REPOSITORY in str(refused.value)


def test_the_environment_variable_wins_and_is_the_only_place_looked_at(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "audible.txt").write_text("A bell rings.\n")
    (mine / "not_audible.txt").write_text("A map lies folded.\n")
    monkeypatch.setenv(audibility_data.DATA_ENV, str(mine))
    assert find() == (mine / "audible.txt", mine / "not_audible.txt")
    monkeypatch.setenv(audibility_data.DATA_ENV, str(tmp_path / "elsewhere"))
    assert find() is None


def test_without_the_variable_the_shared_folder_then_the_fetched_copy_are_searched(tmp_path, monkeypatch):
    monkeypatch.delenv(audibility_data.DATA_ENV, raising=False)
    monkeypatch.setenv("CGCAP_CACHE", str(tmp_path / "cache"))
    folders = audibility_data.candidate_folders()
    assert folders[0].parts[-3:] == ("shared", "data", "audibility")
    assert folders[-1] == tmp_path / "cache" / "data" / "audibility"


def test_the_source_is_pinned_to_a_commit():
    assert len(audibility_data.SOURCE_COMMIT) == 40 and audibility_data.SOURCE_COMMIT in audibility_data.SOURCE_URL
    assert set(audibility_data.SOURCE_FILES) == {"audible.txt", "notAudible.txt"}
