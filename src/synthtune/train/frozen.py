"""Reuse the frozen layers' outputs across epochs (``train.cache_frozen_layers``).

With ``train.lora_top_layers`` the adapters sit only in the model's top layers; the layers below them
are frozen and, without dropout, compute the same hidden states for a row at every epoch. The first time
a row is seen, :class:`FrozenLayerCache` runs the bottom layers once (without autograd) and keeps each
row's hidden states at the boundary; every later step on that row runs only the top layers, from the
kept states. The loss and gradients are those of the whole model: the first batch is run both ways and
the cache switches itself off (saying why) if they differ, as they would for a model that scales its
input embeddings inside its forward pass or has dropout in the frozen layers.

With SmolLM2-135M on a 2-core CPU, a batch of 8 demo rows (116 tokens) and adapters in the top 15 of its
30 layers, the forward pass took 0.79 s instead of 1.37 s and the step 1.77 s instead of 2.35 s; the
training benchmark measures it (``benchmarks/RESULTS.md``, training).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

CHECK_TOLERANCE = 1e-4  # largest relative difference in the first batch's logits
MAX_BYTES = 2 * 2**30  # rows beyond this much cache memory run the whole model


class FrozenLayerCache:
    """Hidden states at the boundary below the adapters, per row (keyed by the row's tokens).

    Rows must be right-padded (real tokens first), as the trainer's collator pads them: the cached
    states of a row are then those of its real tokens whatever batch it is in."""

    def __init__(self, model: Any, split: int, max_bytes: int = MAX_BYTES, autocast: Any = None) -> None:
        self.model = model  # the PEFT model being trained
        # the dtype the trainer autocasts the model's forward to (bfloat16 on an AMX CPU), or None: the
        # bottom layers run under it too, so that their kept states are those the whole model computes
        self.autocast = autocast
        self.decoder = decoder_of(model)
        self.layers = self.decoder.layers
        self.split = split
        self.max_bytes = max_bytes
        self.rows: dict[bytes, Any] = {}
        self.bytes = 0
        self.checked = False
        self.off_reason: str | None = None
        self.hits = self.misses = 0

    @contextlib.contextmanager
    def _only(self, layers: Any) -> Iterator[None]:
        import torch

        self.decoder.layers = torch.nn.ModuleList(layers)
        try:
            yield
        finally:
            self.decoder.layers = self.layers

    def _bottom(self, input_ids: Any, attention_mask: Any) -> Any:
        """The bottom layers' output for a batch (no autograd)."""
        import torch

        got: list[Any] = []

        def keep(_module: Any, _args: Any, out: Any) -> None:
            got.append(out[0] if isinstance(out, tuple) else out)

        hook = self.layers[self.split - 1].register_forward_hook(keep)
        cast = (
            torch.autocast(input_ids.device.type, dtype=self.autocast)
            if self.autocast is not None
            else contextlib.nullcontext()
        )
        try:
            with torch.no_grad(), cast, self._only(self.layers[: self.split]):
                self.decoder(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        finally:
            hook.remove()
        return got[-1].detach()

    def _top(self, hidden: Any, attention_mask: Any, logits_to_keep: Any, model: Any = None) -> Any:
        with self._only(self.layers[self.split :]):
            return (model or self.model)(
                inputs_embeds=hidden,
                attention_mask=attention_mask,
                logits_to_keep=logits_to_keep,
                use_cache=False,
            )

    def _whole(self, input_ids: Any, attention_mask: Any, logits_to_keep: Any, model: Any = None) -> Any:
        return (model or self.model)(
            input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=logits_to_keep, use_cache=False
        )

    def forward(self, input_ids: Any, attention_mask: Any, logits_to_keep: Any, model: Any = None) -> Any:
        """The model's output for the batch, from kept hidden states where it can. ``model``: the
        model as the trainer holds it (it may wrap the one this cache was made for)."""
        import torch

        def whole() -> Any:
            return self._whole(input_ids, attention_mask, logits_to_keep, model)

        if self.off_reason is not None:
            return whole()
        mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        lengths = mask.sum(dim=1)
        positions = torch.arange(mask.shape[1], device=mask.device)
        if not bool((mask == (positions[None, :] < lengths[:, None])).all()):
            return whole()  # not right-padded: the cached states would sit at other positions

        keys = [input_ids[i, : int(n)].cpu().numpy().tobytes() for i, n in enumerate(lengths)]
        if not all(k in self.rows for k in keys):  # a row seen first (or not kept): the bottom runs
            self.misses += len(keys)
            fresh = self._bottom(input_ids, attention_mask)
            if not self.checked:
                self.checked = True
                if not self._agrees(fresh, input_ids, attention_mask, logits_to_keep):
                    return whole()
            for i, k in enumerate(keys):
                if k in self.rows:
                    continue
                state = fresh[i, : int(lengths[i])].to("cpu", copy=True)
                size = state.numel() * state.element_size()
                if self.bytes + size <= self.max_bytes:
                    self.rows[k] = state
                    self.bytes += size
            return self._top(fresh, attention_mask, logits_to_keep, model)
        self.hits += len(keys)
        first = self.rows[keys[0]]
        hidden = first.new_zeros((len(keys), input_ids.shape[1], first.shape[-1]))
        for i, k in enumerate(keys):
            hidden[i, : int(lengths[i])] = self.rows[k]
        return self._top(hidden.to(input_ids.device), attention_mask, logits_to_keep, model)

    def _agrees(self, fresh: Any, input_ids: Any, attention_mask: Any, logits_to_keep: Any) -> bool:
        """Whether the top layers from the kept states give the whole model's logits."""
        import torch

        with torch.no_grad():
            want = self._whole(input_ids, attention_mask, logits_to_keep).logits
            got = self._top(fresh, attention_mask, logits_to_keep).logits
        real = None
        if attention_mask is not None:
            keep = logits_to_keep if not isinstance(logits_to_keep, int) else slice(-want.shape[1], None)
            real = attention_mask[:, keep].bool()
        diff = (got - want).abs()
        scale = want.abs().amax().clamp(min=1.0)
        worst = float((diff[real] if real is not None else diff).amax() / scale)
        if worst > CHECK_TOLERANCE:
            self.off_reason = (
                f"the top layers from kept states differ from the whole model (relative {worst:.1e}): "
                "every step runs the whole model"
            )
            self.rows.clear()
            self.bytes = 0
            return False
        return True


def decoder_of(model: Any) -> Any:
    """The transformer stack (the module holding ``layers``) of a PEFT or transformers causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = getattr(base, "model", None)
    layers = getattr(decoder, "layers", None)
    if decoder is None or layers is None or not hasattr(layers, "__len__"):
        return None
    return decoder


def frozen_cache(
    model: Any, top_layers: int | None, checkpointing: bool = False, autocast: Any = None
) -> FrozenLayerCache | None:
    """A cache for ``model`` with adapters in its top ``top_layers`` layers, or None where it cannot
    apply (adapters in every layer, or a model whose layers are not where causal LMs keep them).
    ``checkpointing``: activation checkpointing is on, whose recomputation needs inputs that carry
    gradients; the cache is then off. ``autocast``: the dtype the trainer runs the model's forward
    under (mixed precision), None for none."""
    decoder = decoder_of(model)
    if decoder is None or not top_layers:
        return None
    n = len(decoder.layers)
    if top_layers >= n or getattr(decoder.config, "num_hidden_layers", n) != n:
        return None
    cache = FrozenLayerCache(model, n - top_layers, autocast=autocast)
    dropout = _dropout(decoder.config)
    if dropout:  # the bottom layers would drop different units at every pass
        cache.off_reason = f"the model has dropout ({dropout}): every step runs the whole model"
    elif checkpointing:
        cache.off_reason = "train.gradient_checkpointing is on: every step runs the whole model"
    return cache


def _dropout(config: Any) -> str | None:
    for key, value in sorted(config.to_dict().items()):
        named = key.endswith("dropout") or key.endswith("pdrop") or key.endswith("dropout_prob")
        if named and isinstance(value, int | float) and value > 0:
            return f"{key}={value}"
    return None
