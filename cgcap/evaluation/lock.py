"""One evaluation at a time per output folder.

Two evaluations writing the same folder would interleave part files made with
different settings and record each other's predictions. The guard is an exclusive
``flock`` on ``OUTPUT/.evaluation.lock``: the kernel drops it when its process ends,
however it ends (crash, SIGKILL, power loss of a client), so a dead run never leaves
a stale lock behind, and the note inside names the live holder.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

LOCK_NAME = ".evaluation.lock"


class OutputFolderBusy(RuntimeError):
    """Another live process is evaluating into the same output folder."""


class OutputFolderLock:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._handle = None

    def __enter__(self) -> "OutputFolderLock":
        self.folder.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise OutputFolderBusy(
                f"output folder {self.folder} is in use by another evaluation ({holder}); "
                "wait for it to finish, or give this one another --output"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {socket.gethostname()}, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}\n")
        handle.flush()
        self._handle = handle
        return self

    def __exit__(self, *exc_info) -> None:
        # The file stays: deleting it would let a third process lock a fresh inode while a
        # second one still waits on the old one.
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None
