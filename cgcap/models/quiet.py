"""transformers 5 draws a "Loading weights: 100%|...| 103/103" bar for every ``from_pretrained``
and a "Writing model shards" bar for every ``save_pretrained``.

Reading or writing a local safetensors file takes about a second, so those bars are noise: a first
run printed one per model and per Ray actor, and where stderr is a log file rather than a terminal
(a Ray actor, a Serve replica, a job's output) each redraw of a bar nested under cgcap's own came
out as a line with cursor-movement codes (``...[A``). A download from the hub can take minutes, so
its bars (``huggingface_hub``) stay on a terminal; elsewhere they are off too.
"""

from __future__ import annotations

import sys


def hide_weight_loading_bars() -> None:
    """Turn off transformers' progress bars (its documented ``logging.disable_progress_bar``); keep the
    hub's download bars only where stderr is a terminal."""
    import huggingface_hub.utils as hub
    from transformers.utils import logging as transformers_logging

    if not transformers_logging.is_progress_bar_enabled():
        return
    hub_bars_on = not hub.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # also switches the hub's bars off ...
    if hub_bars_on and sys.stderr.isatty():
        hub.enable_progress_bars()  # ... which a paper-profile download in a terminal should still show
