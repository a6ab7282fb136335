"""Cartwise: a recommender system for online stores.

A Transformer over shoppers' behaviour, pretrained language models over product text, and the
loop around them: ingest, train, recommend, collect feedback, retrain.
"""

__version__ = "0.1.0"
