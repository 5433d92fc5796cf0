"""Ray job entrypoint: evaluate captions over a dataset and log one MLflow run.

    ray job submit --working-dir . -- python jobs/evaluate.py --dataset clotho \
        --data-root /data/clotho --split evaluation --output /runs/clotho-eval

The logic lives in ``cgcap.evaluation``; this file only hands it the command line.
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported (docs/OFFLINE.md)

from cgcap.evaluation.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
