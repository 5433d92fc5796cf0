"""transformers 5 draws a "Loading weights: 100%|...| 103/103" bar for every ``from_pretrained``.

Reading a local safetensors file takes well under a second, so the bar is noise: a first run
printed one per model and per Ray actor (issue 12). A download from the hub is another matter,
so the hub's own bars (``huggingface_hub``) stay as they were.
"""

from __future__ import annotations


def hide_weight_loading_bars() -> None:
    """Turn off transformers' progress bars (its documented ``logging.disable_progress_bar``), keep the hub's."""
    import huggingface_hub.utils as hub
    from transformers.utils import logging as transformers_logging

    if not transformers_logging.is_progress_bar_enabled():
        return
    hub_bars_on = not hub.are_progress_bars_disabled()
    transformers_logging.disable_progress_bar()  # also switches the hub's bars off ...
    if hub_bars_on:
        hub.enable_progress_bars()  # ... which a paper-profile download should still show
