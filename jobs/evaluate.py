"""Ray job entrypoint for ``cgcap evaluate`` (``ray job submit`` needs a file to run):

    ray job submit --working-dir . -- python jobs/evaluate.py --dataset clotho \
        --data-root /data/clotho --split evaluation --output /runs/clotho-eval

The same arguments as ``cgcap evaluate``; the logic lives in ``cgcap.evaluation``.
"""

import sys

from cgcap.cli import main

if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
