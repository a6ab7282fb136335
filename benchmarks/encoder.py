"""Language-model speed on CPU: the sentence encoder and (optionally) the local generator.

Usage: python benchmarks/encoder.py [--items 2000] [--batch-size 64] [--threads N] [--smollm2]

Encoder: builds the demo catalog (realistic product titles, categories, brands, descriptions),
loads all-MiniLM-L6-v2 offline (timed), encodes the item texts once to warm up, then times a full
pass at the given batch size, and a second pass through ``CachedEncoder`` on a fresh SQLite store
(cold: every text is encoded and written; warm: every vector comes from the store). Writes
``benchmarks/results/encoder-minilm.json``.

With ``--smollm2`` it also loads SmolLM2-135M-Instruct (timed) and measures greedy generation
speed in new tokens per second on a few shop prompts, written to
``benchmarks/results/encoder-smollm2.json`` (benchmark "generator").
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import write_result  # noqa: E402

from cartwise.data.sources.demo_catalog import build_catalog  # noqa: E402
from cartwise.data.store import Store  # noqa: E402
from cartwise.text.encoder import CachedEncoder, SentenceTransformerEncoder  # noqa: E402
from cartwise.text.generator import LocalSmolLM2  # noqa: E402
from cartwise.text.runtime import limit_torch_threads  # noqa: E402

PROMPTS = (
    "In one sentence, why would someone who bought a Galaxy S23 want a screen protector?",
    "Write a short product blurb for waterproof trail running shoes.",
    "Suggest two accessories for a new laptop, as a comma-separated list.",
)


def item_texts(n: int, seed: int = 7) -> list[str]:
    """Texts of `n` demo catalog items (title, category path, brand, description)."""
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 6, 1, tzinfo=UTC)
    catalog = build_catalog(np.random.default_rng(seed), n, 0.1, start, end)
    return [item.text for item in catalog.items]


def bench_encoder(texts: list[str], batch_size: int, threads: int | None) -> dict[str, float]:
    """Load time, items/s of a plain pass and of a cold and a warm cached pass."""
    t0 = time.perf_counter()
    encoder = SentenceTransformerEncoder(threads=threads)
    encoder.encode(texts[:1])  # loads the model (the dimension alone comes from its config)
    dim = encoder.dim
    load_s = time.perf_counter() - t0
    encoder.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    vectors = encoder.encode(texts, batch_size=batch_size)
    encode_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as folder:
        cached = CachedEncoder(encoder, Store.open(Path(folder) / "bench.db"))
        t0 = time.perf_counter()
        cached.encode(texts, batch_size=batch_size)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = cached.encode(texts, batch_size=batch_size)
        warm_s = time.perf_counter() - t0
    assert np.allclose(again, vectors, atol=1e-5), "cached vectors differ from fresh ones"
    n = len(texts)
    return {
        "items_per_s": round(n / encode_s, 1),
        "encode_seconds": round(encode_s, 2),
        "load_seconds": round(load_s, 2),
        "cached_cold_items_per_s": round(n / cold_s, 1),
        "cached_warm_items_per_s": round(n / warm_s, 1),
        "dim": dim,
        "items": n,
        "mean_chars": round(sum(map(len, texts)) / n, 1),
    }


def bench_smollm2(threads: int | None, max_new_tokens: int) -> dict[str, float]:
    """Load time and greedy generation speed (new tokens per second) of SmolLM2."""
    gen = LocalSmolLM2(threads=threads)
    t0 = time.perf_counter()
    model, tokenizer = gen._load()
    load_s = time.perf_counter() - t0
    gen.generate("Hello", max_new_tokens=4)  # warm-up
    tokens, seconds = 0, 0.0
    for prompt in PROMPTS:
        t0 = time.perf_counter()
        reply = gen.generate(prompt, max_new_tokens=max_new_tokens)
        seconds += time.perf_counter() - t0
        tokens += len(tokenizer(reply, add_special_tokens=False)["input_ids"])
    return {
        "tokens_per_s": round(tokens / seconds, 2),
        "new_tokens": tokens,
        "generate_seconds": round(seconds, 2),
        "load_seconds": round(load_s, 2),
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--smollm2", action="store_true", help="also time the local generator")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    threads = limit_torch_threads(args.threads)
    texts = item_texts(args.items)
    load_before = os.getloadavg()[0]
    metrics = bench_encoder(texts, args.batch_size, args.threads)
    config = {
        "items": len(texts),
        "batch_size": args.batch_size,
        "threads": threads,
        # Other work on the machine slows torch's threads a lot: keep the figure honest.
        "load_average_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    path = write_result(
        "encoder",
        f"demo-{len(texts)}",
        "all-MiniLM-L6-v2",
        metrics,
        config=config,
        seconds=metrics["encode_seconds"],
        name="encoder-minilm",
    )
    print(f"{path.name}: {metrics}")
    if args.smollm2:
        gen_metrics = bench_smollm2(args.threads, args.max_new_tokens)
        path = write_result(
            "generator",
            "shop-prompts",
            "smollm2-135m-instruct",
            gen_metrics,
            config={
                "max_new_tokens": args.max_new_tokens,
                "threads": threads,
                "greedy": True,
                "load_average_1m": round(os.getloadavg()[0], 2),
            },
            seconds=gen_metrics["generate_seconds"],
            name="encoder-smollm2",
        )
        print(f"{path.name}: {gen_metrics}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
