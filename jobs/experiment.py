"""Ray job entrypoint for ``cgcap experiment`` (``ray job submit`` needs a file to run):
``ray job submit -- python jobs/experiment.py transfer ...``.

The same arguments as ``cgcap experiment``; the logic lives in ``cgcap.experiments``.
"""

import sys

from cgcap.cli import main

if __name__ == "__main__":
    sys.exit(main(["experiment", *sys.argv[1:]]))
