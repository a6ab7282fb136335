"""Cartwise: a recommender system for online stores.

A Transformer over shoppers' behaviour, pretrained language models over product text, and the
loop around them: ingest, train, recommend, collect feedback, retrain.
"""

import os

__version__ = "0.1.0"

# OpenMP threads that finish their share of an operation sleep until the next one instead of
# spinning (the default). Spinning pays only on cores nobody else wants: on the shared 2-core
# machine (load 15-20) ten SASRec training steps with 2 threads took 31-44 s spinning and 7 s
# sleeping (benchmarks/results/training-speed-ml-1m.md). It must be set before torch loads
# its OpenMP runtime, so here, when cartwise is imported first; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
