"""Generator over any OpenAI-compatible chat API (vLLM, llama.cpp server, Ollama, OpenAI…).

Sending text to another machine is a decision the store makes, not a default: the client refuses
to exist unless ``CARTWISE_ALLOW_REMOTE_GENERATOR=true``, and like every generator it redacts
personal data before anything leaves the process.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from cartwise.errors import ConfigError, ModelError
from cartwise.text.generator import RedactingGenerator
from cartwise.text.runtime import require

if TYPE_CHECKING:
    from cartwise.config import Settings

_log = logging.getLogger(__name__)


class OpenAICompatible(RedactingGenerator):
    """Client of ``POST {base_url}/chat/completions``.

    Args:
        base_url: API root, e.g. ``http://llm.internal:8000/v1``.
        model: model name the server expects.
        api_key: bearer token, if the server needs one.
        timeout: seconds allowed per request.
        settings: settings whose ``allow_remote_generator`` must be true (default: the
            environment's).

    Raises:
        ConfigError: remote generation is not allowed, or base_url/model is empty.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | SecretStr | None = None,
        timeout: float = 30.0,
        *,
        settings: Settings | None = None,
    ) -> None:
        if settings is None:
            from cartwise.config import get_settings

            settings = get_settings()
        if not settings.allow_remote_generator:
            raise ConfigError(
                f"refusing to send text to the remote generator at '{base_url}': set "
                "CARTWISE_ALLOW_REMOTE_GENERATOR=true to allow it (text is redacted first), or "
                "use CARTWISE_GENERATOR=local"
            )
        if not base_url.strip() or not model.strip():
            raise ConfigError(
                "the OpenAI-compatible generator needs CARTWISE_OPENAI_BASE_URL and "
                f"CARTWISE_OPENAI_MODEL (got base_url='{base_url}', model='{model}')"
            )
        if timeout <= 0:
            raise ConfigError(f"timeout={timeout}: must be positive seconds")
        self._httpx = require("httpx", "httpx")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        key = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        self._headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.name = f"openai:{model}"

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAICompatible:
        """The client ``CARTWISE_OPENAI_*`` describe."""
        return cls(
            settings.openai_base_url,
            settings.openai_model,
            settings.openai_api_key,
            settings.openai_timeout,
            settings=settings,
        )

    @property
    def url(self) -> str:
        """The chat-completions endpoint."""
        return f"{self.base_url}/chat/completions"

    def _complete(
        self, prompt: str, system: str | None, max_new_tokens: int, temperature: float
    ) -> str:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
        }
        return _reply_text(self._post(body), self.url)

    def _post(self, body: dict[str, Any]) -> Any:
        httpx = self._httpx
        try:
            response = httpx.post(self.url, json=body, headers=self._headers, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise ModelError(
                f"generator at {self.url} did not answer within {self.timeout:g} s: raise "
                "CARTWISE_OPENAI_TIMEOUT or check the server"
            ) from exc
        except httpx.HTTPError as exc:
            raise ModelError(
                f"cannot reach generator at {self.url}: {exc}. Check CARTWISE_OPENAI_BASE_URL"
            ) from exc
        if response.status_code in (401, 403):
            raise ModelError(
                f"generator at {self.url} refused the request ({response.status_code}): check "
                "CARTWISE_OPENAI_API_KEY"
            )
        if response.status_code >= 400:
            raise ModelError(
                f"generator at {self.url} answered HTTP {response.status_code}: "
                f"{response.text[:200]!r}"
            )
        try:
            return response.json()
        except ValueError as exc:
            raise ModelError(f"generator at {self.url} answered non-JSON: {exc}") from exc


def _reply_text(payload: Any, url: str) -> str:
    """``choices[0].message.content`` of a chat-completions answer."""
    try:
        content = payload["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise ModelError(
            f"generator at {url} answered without choices[0].message.content: "
            f"{str(payload)[:200]!r}"
        ) from exc
    if not isinstance(content, str):
        raise ModelError(f"generator at {url} answered a non-text message content: {content!r}")
    return content.strip()
