"""Model size and compute: parameter counts, parameters the forward pass uses, MACs, and example inputs.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2) so no extra
dependency is needed.  It counts matrix products and convolutions (the bulk of the work);
LSTMs, whose fused kernel the counter does not see, are added by hand (4 gates x (input +
hidden) x hidden per step and direction).  BatchNorm, activations and element-wise products are
not counted, so figures run a few per cent below counters that add them (e.g. ptflops/thop).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from edgeaffect.meta import ModelMeta, Task


def _as_inputs(example: Any) -> tuple[torch.Tensor, ...]:
    return tuple(example) if isinstance(example, (tuple, list)) else (example,)


def _outputs(model: nn.Module, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    out = model(*inputs)
    out = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in out if isinstance(o, torch.Tensor)]


def count_parameters(model: nn.Module, *, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_used_parameters(model: nn.Module, example: Any) -> int:
    """Parameters that receive a gradient from one forward/backward pass on ``example``.

    Runs in eval mode (BatchNorm statistics and dropout untouched); gradients held before
    the call are restored afterwards.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    saved = [p.grad for p in params]
    was_training = model.training
    try:
        for p in params:
            p.grad = None
        model.eval()
        with torch.enable_grad():
            loss = sum(o.float().sum() for o in _outputs(model, _as_inputs(example)))
            loss.backward()
        return sum(p.numel() for p in params if p.grad is not None)
    finally:
        for p, g in zip(params, saved):
            p.grad = g
        model.train(was_training)


def count_macs(model: nn.Module, example: Any) -> int:
    """Multiply-accumulates of one eval-mode forward pass on ``example``."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    recurrent = [0]
    hooks = [m.register_forward_hook(_recurrent_macs(recurrent)) for m in model.modules() if isinstance(m, nn.LSTM)]
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            _outputs(model, _as_inputs(example))
        return int(counter.get_total_flops()) // 2 + recurrent[0]
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)


def _recurrent_macs(total: list[int]):
    """The flop counter does not see the fused LSTM kernel; count its four gates by hand."""

    def hook(module: nn.LSTM, inputs, output) -> None:
        x = inputs[0]
        steps, batch = (x.shape[1], x.shape[0]) if module.batch_first else (x.shape[0], x.shape[1])
        dirs = 2 if module.bidirectional else 1
        h = module.hidden_size
        for layer in range(module.num_layers):
            width = module.input_size if layer == 0 else h * dirs
            total[0] += dirs * steps * batch * 4 * h * (width + h)

    return hook


def example_inputs(meta: ModelMeta, batch: int = 1) -> tuple[torch.Tensor, ...]:
    """Seeded random inputs of the shapes ``meta`` describes, for counting, tracing and export.

    The image/clip tensor (tabular: (N, steps, features)) and one (N, frames) series per extra
    input, as the training loop feeds them.  Random rather than zeros so that gradients flow
    through every used parameter (:func:`count_used_parameters`).
    """
    gen = torch.Generator().manual_seed(0)
    if meta.task is Task.TABULAR:
        return (torch.randn(batch, *meta.input_size, generator=gen),)
    frames = meta.temporal.frames if meta.temporal else 1
    main = torch.rand(meta.input_shape(batch), generator=gen)
    return (main, *(torch.randn(batch, frames, generator=gen) for _ in meta.extra_inputs))


def count(model: nn.Module, meta: ModelMeta) -> dict[str, int]:
    """Parameters, parameters used by the forward pass and MACs at ``meta``'s input size (batch 1)."""
    example = example_inputs(meta)
    return {
        "parameters": count_parameters(model),
        "used_parameters": count_used_parameters(model, example),
        "macs": count_macs(model, example),
    }
