"""Settings, read from the environment (prefix ``CARTWISE_``) or a ``.env`` file.

Example: ``CARTWISE_STORE_URL=postgresql+psycopg://shop@db/cartwise cartwise stats``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where data and models live, and how the language models are reached."""

    model_config = SettingsConfigDict(env_prefix="CARTWISE_", env_file=".env", extra="ignore")

    store_url: str = Field(
        default="var/cartwise.db",
        description="SQLite file path or any SQLAlchemy URL (e.g. postgresql+psycopg://...)",
    )
    model_dir: Path = Field(default=Path("var/models"), description="folder of saved models")
    model_url: str | None = Field(
        default=None,
        description=(
            "model versions on storage shared by several machines, as an fsspec URL "
            "(s3://bucket/models with s3fs installed, gs:// with gcsfs, file:///shared/models); "
            "when set it replaces model_dir"
        ),
    )
    model_cache_dir: Path = Field(
        default=Path("var/model-cache"),
        description="local folder where versions downloaded from model_url are kept",
    )
    seed: int = Field(default=7, description="random seed for demo data and training")
    event_future_skew: timedelta = Field(
        default=timedelta(days=1),
        ge=timedelta(0),
        description=(
            "how far past the current time an event's timestamp may lie (clock skew between "
            "systems); later events are rejected. An ISO 8601 duration: "
            "CARTWISE_EVENT_FUTURE_SKEW=PT6H, P2D"
        ),
    )
    event_time_floor: datetime = Field(
        default=datetime(1990, 1, 1, tzinfo=UTC),
        description="earliest event timestamp accepted (CARTWISE_EVENT_TIME_FLOOR=2000-01-01Z)",
    )

    # -- model lifecycle (cartwise.lifecycle) ------------------------------------------------
    gate_margin: float = Field(
        default=0.02,
        ge=0.0,
        lt=1.0,
        description=(
            "activation gate: a newly trained version replaces the active one only if its "
            "validation NDCG@10 is at least (1 - margin) x the active version's on the same "
            "holdout (0.02: 2 % lower passes); --force overrides"
        ),
    )
    retrain_every: timedelta | None = Field(
        default=None,
        gt=timedelta(0),
        description=(
            "cartwise serve retrains on this schedule (ISO 8601 duration or seconds, e.g. "
            "CARTWISE_RETRAIN_EVERY=PT6H); unset: only when asked (--retrain-every 6h)"
        ),
    )

    # -- privacy (docs/privacy.md) ----------------------------------------------------------
    pseudonymise_key: SecretStr | None = Field(
        default=None,
        description=(
            "when set, shopper ids are stored as keyed HMAC-SHA256 pseudonyms (the API still "
            "takes the shop's own ids). At least 16 characters; keep it secret and never change "
            "it on a store that holds data: the history of every shopper would be orphaned"
        ),
    )
    receipt_key: SecretStr | None = Field(
        default=None,
        description=(
            "key of the keyed hash that deletion receipts hold instead of the shopper's id "
            "(default: a random key kept in the store)"
        ),
    )

    # -- language models (cartwise.text) ------------------------------------------------
    encoder_model: str = Field(
        default="all-MiniLM-L6-v2",
        description="sentence encoder: 'all-MiniLM-L6-v2' (bundled, offline) or a model folder",
    )
    generator: Literal["none", "local", "openai"] = Field(
        default="none",
        description="generative LM: none, local SmolLM2 on CPU, or an OpenAI-compatible endpoint",
    )
    generator_threads: int | None = Field(
        default=None, ge=1, description="CPU threads for the local generator (default: all usable)"
    )
    openai_base_url: str = Field(
        default="", description="base URL of an OpenAI-compatible API, e.g. http://llm:8000/v1"
    )
    openai_model: str = Field(default="", description="model name sent to that endpoint")
    openai_api_key: SecretStr | None = Field(default=None, description="bearer token, if needed")
    openai_timeout: float = Field(default=30.0, gt=0, description="seconds per request")
    allow_remote_generator: bool = Field(
        default=False,
        description="must be true before any (redacted) text is sent to a remote generator",
    )

    # -- search and ranking stages ------------------------------------------------------------
    search_mode: Literal["auto", "hybrid", "keyword"] = Field(
        default="auto",
        description=(
            "search matching: auto = BM25 + the sentence encoder when the lm extra is installed "
            "(BM25 only, with a warning, when it is not or the model fails to load); hybrid = "
            "the same but a missing encoder is an error; keyword = BM25 only"
        ),
    )
    search_keyword_weight: float = Field(
        default=0.5, ge=0, description="share of BM25 in hybrid search relevance"
    )
    search_semantic_weight: float = Field(
        default=0.5, ge=0, description="share of encoder cosine in hybrid search relevance"
    )
    explain_budget_ms: int = Field(
        default=250,
        ge=0,
        le=60_000,
        description=(
            "how long a request with explain=true waits for sentences phrased by the generator "
            "(CARTWISE_GENERATOR); after it, the template sentence is sent and the phrased one "
            "is kept for the next request"
        ),
    )

    # -- HTTP service -----------------------------------------------------------------------
    api_keys: dict[str, list[Literal["read", "write", "admin", "storefront"]]] = Field(
        default_factory=dict,
        description=(
            "API key -> scopes, as JSON (CARTWISE_API_KEYS='{\"k1\": [\"read\"]}'). 'admin' "
            "implies every scope; 'storefront' (for a key in web pages, e.g. the widget's) "
            "allows recommendation lists and feedback only. Empty: the service runs without "
            "keys, on loopback only."
        ),
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description=(
            "origins of web pages allowed to call the service from a browser (the storefront "
            "widget on the shop's own domain), as JSON: "
            "CARTWISE_CORS_ORIGINS='[\"https://shop.example\"]'. Empty: none"
        ),
    )
    insecure_local: bool = Field(
        default=False,
        description=(
            "serve WITHOUT API keys, to clients on this machine only; refused unless the service "
            "listens on a loopback address. Behind a reverse proxy on the same machine every "
            "client looks local: configure API keys instead"
        ),
    )
    forwarded_allow_ips: str | None = Field(
        default=None,
        description=(
            "comma-separated addresses of trusted proxies whose X-Forwarded-For/Proto headers "
            "are honoured; unset: forwarded headers are ignored"
        ),
    )
    max_request_bytes: int = Field(
        default=1_000_000, gt=0, description="largest request body the service accepts (413)"
    )
    host: str = Field(default="127.0.0.1", description="address the service listens on")
    port: int = Field(default=8000, ge=0, le=65535, description="port the service listens on")
    catalog_refresh_seconds: float = Field(
        default=30.0,
        gt=0,
        description=(
            "how often the service hashes the catalog rows to find changes by other processes "
            "that the cheap check (sync_seconds) cannot see: a rewrite keeping an old created_at"
        ),
    )
    sync_seconds: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description=(
            "how often a server checks what other replicas changed: the catalog's stamp in the "
            "store (items added, deleted or rewritten) and, with model_url, the ACTIVE version "
            "(a local model folder's is checked at every request)"
        ),
    )
    score_cache_mb: int = Field(
        default=128,
        ge=0,
        description=(
            "MiB of model score rows kept per loaded model, keyed by the history scored (a "
            "shopper's state until they act again; the single-item histories behind reasons); "
            "0 turns it off"
        ),
    )
    answer_cache_size: int = Field(
        default=10_000,
        ge=0,
        description=(
            "finished answers (shopper lists, similar items) kept per process and reused while "
            "the model version, catalog, the shopper's events and the items' rows in the store "
            "are unchanged; 0 turns the cache off"
        ),
    )

    ann_threshold: int | None = Field(
        default=None,
        ge=1,
        description=(
            "catalog size (items) from which a dot-product model (SASRec, ALS, BPR) is served "
            "through a faiss index instead of scoring every item; unset: derived from the "
            "model's vector width, 3,200,000 / D (50,000 items at D = 64)"
        ),
    )
    ann_index: Literal["auto", "off", "hnsw", "ivf"] = Field(
        default="auto",
        description=(
            "the index past the threshold: auto (HNSW below 2,000,000 items, IVF-Flat above), "
            "hnsw, ivf, or off (always score every item)"
        ),
    )


def model_root(settings: Settings) -> Path | str:
    """Where the model versions are: ``model_url`` when set, else ``model_dir``."""
    return settings.model_url or settings.model_dir


def get_settings() -> Settings:
    """Settings from the current environment (a new object each call: no module state)."""
    return Settings()
