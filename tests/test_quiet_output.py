"""What a first run prints where stderr is a log rather than a terminal: no progress-bar escape codes, and
none of Ray's lines that describe something that did not happen."""

from __future__ import annotations

import io
import logging

import pytest

from cgcap.ray_connection import drop_driver_line, drop_log_line
from cgcap.serving.cli import CONTROLLER_KILLED_NOTICE, EXISTING_SERVE_NOTICE, SERVE_LOGGER


def test_the_serve_notice_of_an_existing_app_is_dropped_and_other_serve_lines_are_kept():
    logger = logging.getLogger(SERVE_LOGGER)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        drop_log_line(SERVE_LOGGER, EXISTING_SERVE_NOTICE)
        drop_log_line(SERVE_LOGGER, EXISTING_SERVE_NOTICE)  # once per process, however often it is asked
        logger.info(EXISTING_SERVE_NOTICE + " New http_options/controller_options will not be applied.")
        logger.info("Application 'cgcap' is ready at http://127.0.0.1:8000/.")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.getvalue() == "Application 'cgcap' is ready at http://127.0.0.1:8000/.\n"
    assert sum(getattr(f, "prefix", None) == EXISTING_SERVE_NOTICE for f in logger.filters) == 1


def test_rays_controller_killed_line_is_dropped_by_its_exact_text_and_other_driver_lines_are_kept(monkeypatch):
    import ray._private.worker as ray_worker

    printed = []
    monkeypatch.setattr(ray_worker, "print_to_stdstream", lambda data, ignore_prefix: printed.append(data["lines"]))
    drop_driver_line(CONTROLLER_KILLED_NOTICE)
    drop_driver_line(CONTROLLER_KILLED_NOTICE)  # wrapped once
    ray_worker.print_to_stdstream({"lines": [CONTROLLER_KILLED_NOTICE], "pid": "raylet", "is_err": False}, False)
    ray_worker.print_to_stdstream({"lines": [CONTROLLER_KILLED_NOTICE, "Task Encoder.embed failed."],
                                   "pid": "raylet", "is_err": False}, False)
    assert printed == [["Task Encoder.embed failed."]]


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "log"])
def test_weight_loading_bars_are_off_and_hub_download_bars_stay_only_in_a_terminal(monkeypatch, terminal):
    import sys

    import huggingface_hub.utils as hub
    from transformers.utils import logging as transformers_logging

    from cgcap.models.quiet import hide_weight_loading_bars

    was_on = transformers_logging.is_progress_bar_enabled(), not hub.are_progress_bars_disabled()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    try:
        transformers_logging.enable_progress_bar()  # as a fresh process starts
        hide_weight_loading_bars()
        assert not transformers_logging.is_progress_bar_enabled()
        assert hub.are_progress_bars_disabled() is not terminal
    finally:
        (transformers_logging.enable_progress_bar if was_on[0] else transformers_logging.disable_progress_bar)()
        (hub.enable_progress_bars if was_on[1] else hub.disable_progress_bars)()
