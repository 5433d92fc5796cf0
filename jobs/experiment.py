"""Ray job entrypoint for the paper's open checks: ``ray job submit -- python jobs/experiment.py transfer ...``.

The same arguments as ``cgcap experiment``; the logic lives in ``cgcap.experiments``.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (OFFLINE.md)

from cgcap.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["experiment", *sys.argv[1:]]))
