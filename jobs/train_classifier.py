"""Train the guidance classifier as a Ray job: ``ray job submit -- python jobs/train_classifier.py ...``.

The same arguments and the same library call as ``cgcap classifier train``; the job
prints the report as JSON (the last line of its logs) and returns non-zero on bad input.
"""

from __future__ import annotations

import argparse
import sys



def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    from cgcap.classifier.data import DatasetError
    from cgcap.classifier.job import add_training_arguments, request_from_args, run_training
    from cgcap.models import ModelNotFoundError
    from cgcap.tracking import TrackingStoreError

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_training_arguments(parser)
    args = parser.parse_args(argv)
    try:
        report = run_training(request_from_args(args))
    except (ValidationError, DatasetError, ModelNotFoundError, TrackingStoreError) as error:
        print(f"train_classifier: error: {error}", file=sys.stderr)
        return 2
    print(report.model_dump_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
