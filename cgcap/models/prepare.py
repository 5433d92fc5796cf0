"""What is made once into the model cache: the SmolLM2 conversion, the offline classifier's
fine-tune, the ONNX exports of text towers.

One mechanism for all of them: a file lock so one process builds while the others wait,
a ``.partial`` folder renamed into place so a crash never leaves half a model, and an
announcement with an honest estimate and a progress bar on stderr. stderr, because a Ray
actor or Serve replica forwards its stderr to the user's terminal while its logging may
be above INFO.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

log = logging.getLogger(__name__)


def busy_factor() -> float:
    """How much slower than on idle cores this machine runs now (1 when idle).

    The square root of the load per core: measured here, a 6-6.5x load per core slowed the
    one-off steps about 2.5x, not 6x (the other processes do not all want every core).
    """
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not on every platform
        return 1.0
    return max(1.0, load / cores) ** 0.5


def estimate_seconds(idle_two_core_seconds: float, threads: int | None = None, serial: bool = False) -> float:
    """An estimate from a time measured on 2 idle cores, scaled to this machine's cores and load.

    ``serial``: the step runs on one thread whatever the cores (reading a file, tracing a graph), so only
    the load scales it (a one-CPU Ray actor announced a 7 s conversion as 18 s)."""
    import torch

    if serial:
        return idle_two_core_seconds * busy_factor()
    threads = threads or torch.get_num_threads()
    return idle_two_core_seconds * 2.0 / max(1, min(threads, os.cpu_count() or 1)) * busy_factor()


def _logged_to_stderr() -> bool:
    """Whether this module's INFO records already reach stderr (a CLI that configured logging)."""
    if not log.isEnabledFor(logging.INFO):
        return False
    logger: logging.Logger | None = log
    while logger is not None:
        for handler in logger.handlers:
            if (isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is sys.stderr
                    and handler.level <= logging.INFO):
                return True
        logger = logger.parent if logger.propagate else None
    return False


def announce(message: str) -> None:
    """One line the user sees wherever this runs (CLI, Ray actor, Serve replica), and in the log: printed
    on stderr unless the log already shows it there (the evaluation job's own process logged each line twice)."""
    log.info(message)
    if not _logged_to_stderr():
        print(f"cgcap: {message}", file=sys.stderr, flush=True)


def progress_bar(total: float, description: str, unit: str = "it"):
    """A tqdm bar on stderr in a terminal; elsewhere (Ray logs, a job's output, a pipe) a plain line every
    ten seconds and one at the end, because tqdm's redraws there arrive as carriage returns and escape codes."""
    if not sys.stderr.isatty():
        return PlainProgress(total, description, unit)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"cgcap: {description}", unit=unit, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)


class PlainProgress:
    """The part of tqdm's interface cgcap uses (``n``, ``total``, ``update``, ``close``), printed as lines."""

    def __init__(self, total: float, description: str, unit: str = "it", interval: float = 10.0):
        self.total, self.description, self.unit, self.interval = total, description, unit, interval
        self.n = 0
        self._started = self._printed = time.monotonic()
        self._closed = False

    def update(self, count: float = 1) -> None:
        self.n += count
        if time.monotonic() - self._printed >= self.interval:
            self._print()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._print(final=True)

    def _print(self, final: bool = False) -> None:
        self._printed = time.monotonic()
        share = f" ({self.n / self.total:.0%})" if self.total else ""
        elapsed = _duration(self._printed - self._started)
        print(f"cgcap: {self.description}: {_number(self.n)}/{_number(self.total)} {self.unit}{share}, "
              f"{'in ' + elapsed if final else elapsed + ' so far'}", file=sys.stderr, flush=True)


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


@contextlib.contextmanager
def timed_progress(description: str, estimate: float) -> Iterator[None]:
    """A bar that fills with elapsed time against ``estimate`` seconds, for a step with no progress of its own
    (it waits at 99% if the estimate was short, and jumps to 100% when the step ends)."""
    estimate = max(1.0, round(estimate))
    bar = progress_bar(estimate, description, unit="s")
    done = threading.Event()
    started = time.monotonic()

    def tick() -> None:
        while not done.wait(1.0):
            bar.update(int(min(time.monotonic() - started, 0.99 * estimate)) - bar.n)  # whole seconds: no "10.999/30"

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        bar.update(bar.total - bar.n)
        bar.close()


def build_once(target: Path, is_ready: Callable[[Path], bool], build: Callable[[Path], None], what: str,
               estimate: float) -> Path:
    """``target`` made by ``build(partial_folder)`` the first time it is needed; then just ``target``.

    ``what`` and ``estimate`` (seconds) are announced before building, and the time it took after.
    """
    from filelock import FileLock

    from cgcap.models.quiet import hide_weight_loading_bars

    if is_ready(target):
        return target
    # A build loads and saves models inside this step's own bar; transformers' bars would nest in it.
    hide_weight_loading_bars()
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_ready(target):  # another process built it while this one waited
            return target
        announce(f"{what}: once, then cached in {target}; about {_duration(estimate)} on this machine now "
                 f"({os.cpu_count()} cores, load {_load():.1f})")
        started = time.monotonic()
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        build(partial)
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
        announce(f"{what}: done in {_duration(time.monotonic() - started)}")
    return target


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"
