"""What an evaluation shows while it captions: Ray Data's progress bar in a terminal, a few lines elsewhere."""

from __future__ import annotations

import logging
import sys
import time
from typing import Callable

# Ray Data's own logger for its progress reports.
RAY_DATA_PROGRESS_LOGGER = "ray.data._internal.progress"


def configure_ray_data_progress(interactive: bool | None = None) -> None:
    """Ray Data's progress bars in a terminal; none when stdout is a file or a pipe.

    Outside a terminal (a log file, ``ray job logs``) Ray Data prints its progress as a text
    block every 10 s ("Total Progress: 0/?" while the actors load their models, dozens of
    times on a first run); ``BatchProgress`` says the same in one line per batch.
    """
    import ray.data

    interactive = sys.stdout.isatty() if interactive is None else interactive
    ray.data.DataContext.get_current().enable_progress_bars = interactive
    if not interactive:
        # Ray Data then logs, once, how to turn its bars back on: a hint about a choice made here.
        logging.getLogger(RAY_DATA_PROGRESS_LOGGER).setLevel(logging.ERROR)


class BatchProgress:
    """One line per finished batch: how many, what share, time so far and an estimate of the rest."""

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total = total
        self.clock = clock
        self.started = clock()

    def line(self, done: int) -> str:
        elapsed = self.clock() - self.started
        text = f"captioned {done}/{self.total} ({done / self.total:.0%}), {_duration(elapsed)} so far"
        if 0 < done < self.total:
            # The first batch also carried the actors' start-up, so early estimates run long.
            text += f", about {_duration(elapsed / done * (self.total - done))} left"
        return text


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
