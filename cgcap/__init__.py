"""cgcap: classifier-guided captioning across modalities (arXiv 2501.03183).

The one place the hub default is decided: with no model hub (docs/OFFLINE.md) a missing model
must fail at once, not after transformers retries for ~30 s, so ``HF_HUB_OFFLINE`` defaults to 1
before anything imports transformers. Users with a hub set ``HF_HUB_OFFLINE=0``.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
