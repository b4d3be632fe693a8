"""The Ray executor: embedding and generation on Ray actors that each load the model once.

:class:`RayEmbedder` is an :class:`~synthtune.embed.Embedder` whose ``encode`` fans batches out to a pool
of embedding actors; :class:`RayBackend` is an :class:`~synthtune.llm.base.Backend` whose ``generate``
fans requests out to actors holding the configured backend (the in-process transformers model, or an
OpenAI-compatible client making many requests at once). Everything else stays in the driver: the
stages plan the same keyed units, skip the ones the store has, and write each result through the store
layer with the same idempotent keys. So a killed actor is restarted by Ray and its batch retried; a
killed driver loses only the batch in flight, and the next run skips what was stored.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from synthtune.config import BackendSettings, EmbeddingSettings, RaySettings
from synthtune.embed import Embedder, ModelInfo
from synthtune.errors import DependencyMissing, SynthtuneError
from synthtune.llm.base import Backend, ChatRequest, Completion, Progress, make_backend

ACTOR_RESTARTS = 3  # a worker SIGKILLed (or its node lost) is restarted this many times, then the stage stops
RESUME_HINT = "the units done so far are stored; run the same command again to resume"


def ray_module():
    try:
        import ray
    except ImportError:
        raise DependencyMissing("executor: ray needs Ray: pip install 'synthtune[ray]'") from None
    return ray


def connect(settings: RaySettings) -> None:
    """Join the cluster ``ray.address`` names, or start a local one, unless this process already has."""
    ray = ray_module()
    if ray.is_initialized():
        return
    address = None if settings.address == "local" else settings.address
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError) as exc:
        raise SynthtuneError(
            f"cannot reach the Ray cluster at ray.address={settings.address!r}: {exc}"
        ) from None


class _Worker:
    def pid(self) -> int:
        """The actor's process id (what an operator, or a test, kills)."""
        import os

        return os.getpid()


class _EmbedWorker(_Worker):
    """Holds one embedding model; encodes whatever batch it is handed."""

    def __init__(self, settings: dict[str, Any]):
        self.embedder = Embedder(EmbeddingSettings(**settings))

    def info(self) -> ModelInfo:
        return self.embedder.info()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.embedder.encode(texts)


class _GenerateWorker(_Worker):
    """Holds one generation backend (a loaded model, or a client of an OpenAI-compatible server).

    A backend that cannot start (no CUDA GPU for vllm, a model not found) is kept as its error and raised
    by every call: raised in ``__init__`` it would reach the driver only as "the actor died", and Ray
    would restart the actor to fail the same way."""

    def __init__(self, settings: dict[str, Any]):
        self._backend: Backend | None = None
        self._error: SynthtuneError | None = None
        try:
            self._backend = make_backend(BackendSettings(**settings))
        except SynthtuneError as exc:
            self._error = exc

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            assert self._error is not None
            raise self._error
        return self._backend

    def describe(self) -> tuple[str, dict[str, Any]]:
        return self.backend.name, self.backend.settings_dict()

    def generate(self, requests: list[ChatRequest]) -> list[Completion]:
        return self.backend.generate(requests)


class _Pool:
    """``workers`` actors of one class; ``map`` hands out batches and returns results in input order."""

    def __init__(self, cls: type, init: dict[str, Any], settings: RaySettings):
        connect(settings)
        ray = ray_module()
        remote = ray.remote(max_restarts=ACTOR_RESTARTS, max_task_retries=ACTOR_RESTARTS)(cls)
        opts = {"num_cpus": settings.cpus_per_worker, "num_gpus": settings.gpus_per_worker}
        self.actors = [remote.options(**opts).remote(init) for _ in range(settings.workers)]
        self.batch_size = settings.batch_size
        self.done_per_worker = [0] * len(self.actors)
        self._turn = itertools.cycle(range(len(self.actors)))  # round robin across calls too

    def call(self, method: str, *args: Any) -> Any:
        return self._get([getattr(self.actors[0], method).remote(*args)])[0]

    def map(self, method: str, items: list[Any], on_batch: Callable[[int], None] | None = None) -> list[Any]:
        """Every batch of ``items`` through ``method`` on the actors, round robin; results in order."""
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        ray = ray_module()
        refs, owner = [], {}
        for batch, actor in zip(batches, self._turn, strict=False):
            ref = getattr(self.actors[actor], method).remote(batch)
            refs.append(ref)
            owner[ref] = (actor, len(batch))
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            self._get(ready)  # surfaces a worker that died for good
            actor, size = owner[ready[0]]
            self.done_per_worker[actor] += size
            if on_batch:
                on_batch(size)
        return self._get(refs)

    def _get(self, refs: list[Any]) -> list[Any]:
        ray = ray_module()
        try:
            return ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, SynthtuneError):  # the worker's own one-line error: the driver's to say
                raise exc.cause from None
            raise
        except ray.exceptions.RayActorError as exc:
            raise SynthtuneError(
                f"a Ray worker died for good ({type(exc).__name__}); {RESUME_HINT}"
            ) from None

    def close(self) -> None:
        ray = ray_module()
        for a in self.actors:
            ray.kill(a)
        self.actors = []


class RayEmbedder(Embedder):
    """An embedder whose passages are encoded by Ray actors; queries (one short text) stay local."""

    def __init__(self, settings: EmbeddingSettings, ray_settings: RaySettings):
        super().__init__(settings)
        self.ray_settings = ray_settings
        self._pool: _Pool | None = None
        self._info: ModelInfo | None = None

    @property
    def pool(self) -> _Pool:
        if self._pool is None:
            self._pool = _Pool(_EmbedWorker, self.settings.model_dump(), self.ray_settings)
        return self._pool

    def info(self) -> ModelInfo:
        if self._info is None:
            self._info = self.pool.call("info")
        return self._info

    def encode(self, texts: list[str], show_progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.info().dim), dtype=np.float32)
        return np.concatenate(self.pool.map("encode", texts)).astype(np.float32, copy=False)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None


class RayBackend:
    """A :class:`Backend` whose requests are answered by Ray actors, each holding the backend once."""

    def __init__(self, settings: BackendSettings, ray_settings: RaySettings):
        self.pool = _Pool(_GenerateWorker, settings.model_dump(mode="json"), ray_settings)
        self.name, self._settings = self.pool.call("describe")

    def settings_dict(self) -> dict[str, Any]:
        return self._settings

    def generate(self, requests: list[ChatRequest], progress: Progress | None = None) -> list[Completion]:
        out = self.pool.map("generate", requests, on_batch=progress)
        return [c for batch in out for c in batch]

    def close(self) -> None:
        self.pool.close()


def ray_backend(settings: BackendSettings, ray_settings: RaySettings) -> Backend:
    return RayBackend(settings, ray_settings)
