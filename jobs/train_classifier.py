"""Ray job entrypoint for ``cgcap classifier train`` (``ray job submit`` needs a file to run):
``ray job submit -- python jobs/train_classifier.py --positives /data/a.txt --negatives /data/b.txt ...``.

The same arguments as ``cgcap classifier train``; the report is printed as JSON on the last
line of the job's logs, and bad input exits with status 2.
"""

import sys

from cgcap.cli import main

if __name__ == "__main__":
    sys.exit(main(["classifier", "train", "--json", *sys.argv[1:]]))
