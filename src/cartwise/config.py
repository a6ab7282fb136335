"""Settings, read from the environment (prefix ``CARTWISE_``) or a ``.env`` file.

Example: ``CARTWISE_STORE_URL=postgresql+psycopg://shop@db/cartwise cartwise stats``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where data and models live, and how the language models are reached."""

    model_config = SettingsConfigDict(env_prefix="CARTWISE_", env_file=".env", extra="ignore")

    store_url: str = Field(
        default="var/cartwise.db",
        description="SQLite file path or any SQLAlchemy URL (e.g. postgresql+psycopg://...)",
    )
    model_dir: Path = Field(default=Path("var/models"), description="folder of saved models")
    seed: int = Field(default=7, description="random seed for demo data and training")


def get_settings() -> Settings:
    """Settings from the current environment (a new object each call: no module state)."""
    return Settings()
