"""The vllm backend: vLLM's offline engine (``vllm.LLM``) in process, on a CUDA GPU.

vLLM schedules the requests itself (continuous batching over a paged KV cache), so a whole call goes to
the engine at once; ``batch_size`` and ``device`` do not apply (the engine takes the GPUs that
``CUDA_VISIBLE_DEVICES`` shows it, which Ray sets for an actor that reserves ``ray.gpus_per_worker``).
The engine takes 90% of its GPU's memory (vLLM's default) for the weights and the KV cache: one vllm
model per GPU.

Never run on this project's machines (none has a GPU): written from vLLM's documented API (``LLM``,
``LLM.chat``, ``SamplingParams``, ``RequestOutput``); ``benchmarks/gpu_check.sh`` is its prepared check.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

from synthtune.config import BackendSettings
from synthtune.errors import ConfigError, DependencyMissing, LLMError, ModelNotFoundError, first_line
from synthtune.llm.base import ChatRequest, Completion, Progress
from synthtune.llm.bundled import resolve_generator
from synthtune.llm.transformers_backend import END_OF_TURN_TOKENS, load_error


def require_vllm() -> None:
    """The vllm backend needs a CUDA GPU and the vllm package; say which is missing, in one line."""
    import torch

    missing = []
    if not torch.cuda.is_available():
        missing.append("a CUDA GPU (none is visible to torch)")
    if importlib.util.find_spec("vllm") is None:
        missing.append("the vllm package (`pip install vllm`)")
    if missing:
        raise DependencyMissing(
            "backend: vllm needs " + " and ".join(missing) + "; without them use backend: transformers "
            "(in process) or backend: openai with base_url (a vLLM server on another machine)"
        )


class VLLMBackend:
    """A chat model loaded into vLLM's offline engine: greedy at temperature 0, seeded when sampling.

    Requests are grouped by (seed, max_new_tokens, temperature), one ``SamplingParams`` per group, and
    all of them go to ``LLM.chat`` in one call, which returns them in input order. Sampling is seeded
    per request (vLLM draws each request's tokens from a generator of its own). ``repetition_penalty``
    applies as in the transformers backend (over prompt and reply); ``json_schema`` is ignored (no
    constrained decoding), as there. ``latency_s`` is the wall time of the call the request went in.
    If the engine refuses the call (a chat template that rejects one conversation, a prompt longer than
    the model takes), each request is sent alone, so only the ones at fault fail.
    """

    def __init__(self, settings: BackendSettings) -> None:
        require_vllm()
        if settings.no_repeat_ngram_size > 0:
            raise ConfigError(
                f"no_repeat_ngram_size: {settings.no_repeat_ngram_size} is not supported by backend: vllm; "
                "set it to 0 (or use backend: transformers)"
            )
        self.settings = settings
        self.name = settings.model
        self.path = resolve_generator(settings.model)
        if _is_local_path(self.path) and not os.path.exists(self.path):
            raise ModelNotFoundError(f"model '{settings.model}': no such folder")
        if (Path(self.path) / "adapter_config.json").exists():
            raise ModelNotFoundError(
                f"model '{settings.model}' is a LoRA adapter; backend: vllm loads whole models: merge it "
                "first (synthtune merge) and name the merged folder"
            )
        from vllm import LLM

        try:
            self.llm = LLM(model=self.path, seed=settings.seed)
        except (OSError, ValueError) as exc:  # a missing or unreadable model, offline hub id, bad config
            raise ModelNotFoundError(load_error(settings.model, exc, "vllm")) from None
        except RuntimeError as exc:  # the engine did not start (its process says why in vLLM's log)
            raise LLMError(
                f"backend vllm could not start its engine for model '{settings.model}': {_one_line(exc)}"
            ) from None
        tokenizer = self.llm.get_tokenizer()
        # a Hugging Face tokenizer (vLLM's mistral-format tokenizer has no such attribute: it builds
        # its prompts itself)
        if getattr(tokenizer, "chat_template", "") is None:
            self.close()
            raise ModelNotFoundError(
                f"model '{settings.model}' has no chat template; use an instruction-tuned (chat) model"
            )
        # stop at any end-of-turn marker the vocabulary has, as the transformers backend does (vLLM
        # itself stops at the tokenizer's and the generation config's end-of-sequence ids)
        vocab = tokenizer.get_vocab()
        self.stop_ids = [vocab[t] for t in END_OF_TURN_TOKENS if t in vocab]

    def settings_dict(self) -> dict[str, Any]:
        return {**self.settings.model_dump(mode="json"), "resolved_model": self.path}

    def close(self) -> None:
        """Release the engine and the GPU memory it holds (the engine's own process, where vLLM runs
        one, ends when the last reference to it goes)."""
        import torch

        self.llm = None
        gc.collect()
        torch.cuda.empty_cache()  # a no-op where this process never used CUDA

    def sampling_params(self, seed: int, max_new: int, temperature: float) -> Any:
        from vllm import SamplingParams

        s = self.settings
        sample = temperature > 0
        return SamplingParams(
            temperature=temperature,
            top_p=s.top_p if sample else 1.0,
            seed=seed if sample else None,
            max_tokens=max_new,
            repetition_penalty=s.repetition_penalty,
            stop_token_ids=self.stop_ids,
        )

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]:
        if not requests:
            return []
        s = self.settings
        groups: dict[tuple[int, int, float], Any] = {}
        params = []
        for r in requests:
            key = (
                s.seed if r.seed is None else r.seed,
                r.max_new_tokens or s.max_new_tokens,
                s.temperature if r.temperature is None else r.temperature,
            )
            if key not in groups:
                groups[key] = self.sampling_params(*key)
            params.append(groups[key])
        conversations = [r.messages for r in requests]
        started = time.perf_counter()
        try:
            outputs = self.llm.chat(conversations, params, use_tqdm=False)
        except Exception:  # noqa: BLE001 - the engine refused the call: find the requests at fault
            return self._one_by_one(conversations, params, progress)
        latency = time.perf_counter() - started
        # the last len(requests) outputs are this call's: outputs come sorted by request id, and any
        # request an earlier refused call left in the engine finishes with it, sorting first
        completions = [self._completion(out, latency) for out in outputs[-len(requests) :]]
        if progress is not None:
            progress(len(requests))
        return completions

    def _one_by_one(self, conversations: list[list[dict]], params: list[Any], progress: Progress | None):
        completions = []
        for conversation, p in zip(conversations, params, strict=True):
            started = time.perf_counter()
            try:
                outputs = self.llm.chat([conversation], p, use_tqdm=False)
                completion = self._completion(outputs[-1], time.perf_counter() - started)
            except Exception as exc:  # noqa: BLE001 - a backend never raises for one request
                error = f"{type(exc).__name__}: {first_line(exc)}"
                completion = Completion(
                    "", self.name, time.perf_counter() - started, 0, 0, 1, "failed", error
                )
            completions.append(completion)
            if progress is not None:
                progress(1)
        return completions

    def _completion(self, out: Any, latency: float) -> Completion:
        """A ``Completion`` from a ``RequestOutput``: its first (only) ``CompletionOutput``."""
        tokens_in = len(out.prompt_token_ids or [])
        if not out.outputs:
            return Completion("", self.name, latency, tokens_in, 0, 1, "failed", "vllm returned no output")
        reply = out.outputs[0]
        # token_ids include the stop token, as tokens_out does; the text leaves special tokens out
        tokens_out = len(reply.token_ids)
        if reply.finish_reason not in ("stop", "length"):  # "abort", or unfinished
            error = f"vllm finished the request with reason {reply.finish_reason!r}"
            return Completion("", self.name, latency, tokens_in, tokens_out, 1, "failed", error)
        text = reply.text.strip()
        return Completion(text, self.name, latency, tokens_in, tokens_out, 1, "ok", None, reply.finish_reason)


def _is_local_path(model: str) -> bool:
    """Whether ``model`` can only mean a folder (a hub id is ``org/name``: one slash, not at the start)."""
    return os.path.isabs(model) or model.startswith(".") or model.count("/") > 1


def _one_line(exc: Exception, limit: int = 400) -> str:
    """The whole message on one line (a validation error's first line only names the model class)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
