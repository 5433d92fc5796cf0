"""Ray job entrypoint: evaluate captions over a dataset and log one MLflow run.

    ray job submit --working-dir . -- python jobs/evaluate.py --dataset clotho \
        --data-root /data/clotho --split evaluation --output /runs/clotho-eval

The logic lives in ``cgcap.evaluation``; this file only hands it the command line.
"""

import sys

from cgcap.evaluation.cli import main

if __name__ == "__main__":
    sys.exit(main())
