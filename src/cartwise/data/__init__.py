"""Data layer: schema, store, ingestion, datasets, splits, demo and public loaders."""
