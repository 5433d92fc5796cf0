"""What runs once (a conversion, a fine-tune, an export) is built once, atomically, and says so on stderr."""

from pathlib import Path

import pytest

from cgcap.models.prepare import build_once, timed_progress


def ready(folder: Path) -> bool:
    return (folder / "weights").is_file()


def test_first_use_announces_an_estimate_builds_and_later_uses_only_read(tmp_path, capsys):
    built = []

    def build(partial: Path) -> None:
        built.append(partial)
        (partial / "weights").write_text("w")

    target = build_once(tmp_path / "model", ready, build, "making the model", 12.0)
    assert ready(target) and len(built) == 1 and built[0].name == "model.partial"
    err = capsys.readouterr().err
    assert "making the model: once, then cached in" in err and "about 12 s" in err and "making the model: done in" in err

    assert build_once(tmp_path / "model", ready, build, "making the model", 12.0) == target
    assert len(built) == 1 and capsys.readouterr().err == ""


def test_a_failed_build_leaves_no_target_and_the_next_use_builds_afresh(tmp_path):
    def broken(partial: Path) -> None:
        (partial / "weights").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_once(tmp_path / "model", ready, broken, "making the model", 1.0)
    assert not (tmp_path / "model").exists()
    target = build_once(tmp_path / "model", ready, lambda p: (p / "weights").write_text("whole"), "making", 1.0)
    assert (target / "weights").read_text() == "whole"


def test_timed_progress_ends_full_even_when_the_estimate_was_short(capsys):
    with timed_progress("a step", 0.01):
        pass
    err = capsys.readouterr().err
    assert "cgcap: a step" in err and "100%" in err


def test_a_bar_where_stderr_is_not_a_terminal_prints_plain_lines_without_escape_codes(capsys):
    from cgcap.models.prepare import PlainProgress, progress_bar

    bar = progress_bar(4, "training", unit="step")  # pytest's capture is not a terminal, as a Ray log is not
    assert isinstance(bar, PlainProgress)
    for _ in range(4):
        bar.update(1)
    bar.close()
    bar.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cgcap: training: 4/4 step (100%), in ")
    assert "\r" not in err and "\x1b" not in err

    every_step = PlainProgress(2, "export", unit="s", interval=0.0)
    every_step.update(1)
    every_step.update(1)
    every_step.close()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(",")[0] for line in lines] == ["cgcap: export: 1/2 s (50%)", "cgcap: export: 2/2 s (100%)",
                                                      "cgcap: export: 2/2 s (100%)"]


def test_a_serial_steps_estimate_ignores_the_thread_count_and_a_parallel_one_divides_by_it(monkeypatch):
    import os

    from cgcap.models import prepare

    monkeypatch.setattr(prepare, "busy_factor", lambda: 1.5)
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    # 10 s measured on 2 idle cores: a one-thread actor takes twice as long if the step is parallel, not if serial.
    assert prepare.estimate_seconds(10.0, threads=1, serial=True) == 15.0
    assert prepare.estimate_seconds(10.0, threads=1) == 30.0
    assert prepare.estimate_seconds(10.0, threads=4) == 7.5


def test_an_announcement_shows_once_on_stderr_whether_or_not_the_log_prints_there(capsys):
    import logging
    import sys

    from cgcap.models.prepare import announce

    announce("converting the model")  # nothing logs to stderr: printed
    assert capsys.readouterr().err.count("converting the model") == 1
    handler = logging.StreamHandler(sys.stderr)  # as the evaluation job's logging.basicConfig
    logger = logging.getLogger("cgcap")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        announce("exporting the tower")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert capsys.readouterr().err.count("exporting the tower") == 1
