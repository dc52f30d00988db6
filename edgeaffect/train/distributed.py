"""Where a run executes: device, precision, threads, and DDP across processes.

Started under ``torchrun`` (env RANK / WORLD_SIZE / LOCAL_RANK) a run joins a
process group — nccl on CUDA, gloo on CPU — wraps the model in
DistributedDataParallel and shards each epoch's samples; only rank 0 writes
files.  Alone, it is the same code with world size 1.  CUDA runs use AMP,
channels_last and cudnn.benchmark; CPU runs can autocast to bfloat16.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch

from edgeaffect.backend_options import usable_cores
from edgeaffect.errors import ConfigError
from edgeaffect.train.config import Precision, RuntimeConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Env:
    """The resolved execution environment of one process."""

    device: torch.device
    precision: Precision  # resolved: never AUTO
    channels_last: bool
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision is Precision.BF16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        if self.precision is Precision.FP16:
            return torch.autocast(self.device.type, dtype=torch.float16)
        return contextlib.nullcontext()

    def grad_scaler(self) -> "torch.amp.GradScaler | None":
        # fp16 gradients underflow without loss scaling; bf16 has fp32's range and needs none.
        return torch.amp.GradScaler(self.device.type) if self.precision is Precision.FP16 else None


def _resolve_device(name: str, local_rank: int) -> torch.device:
    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device '{name}' asked for but CUDA is not available", "use runtime.device=cpu (or auto)")
    return device


def _resolve_precision(precision: Precision, device: torch.device) -> Precision:
    if precision is Precision.AUTO:
        return Precision.FP16 if device.type == "cuda" else Precision.FP32
    if precision is Precision.FP16 and device.type != "cuda":
        raise ConfigError("fp16 mixed precision needs CUDA", "use precision=bf16 or fp32 on CPU")
    if precision is Precision.BF16 and device.type == "cpu" and not cpu_supports_bf16():
        log.warning("this CPU has no fast bfloat16; training in fp32")
        return Precision.FP32
    return precision


def cpu_supports_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # an older build without the query
        return False


def cpu_threads(requested: int, world: int = 1) -> int:
    """Torch's CPU threads for one training process: ``runtime.threads`` when set, else the user's
    ``OMP_NUM_THREADS``, else the cores this process may run on (its CPU affinity, e.g. under ``taskset``)
    shared among the ``world`` processes of a run.

    Why not the machine's core count: threads that outnumber the cores a process really has wait on
    each other.  Under ``taskset -c 1`` two threads ran DDAMFN's forward+backward 2.3x slower than one
    (1.15 s against 0.50 s, batch 2), and each of the test suite's two workers took both cores.
    """
    if requested:
        return requested
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, usable_cores() // max(world, 1))


def setup(runtime: RuntimeConfig) -> Env:
    """Join the process group when launched by torchrun; pick device, precision and threads."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _resolve_device(runtime.device, local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        torch.distributed.init_process_group(backend=backend, rank=rank, world_size=world)
        log.info("rank %d/%d joined the %s process group", rank, world, backend)
    if device.type == "cpu":
        threads = cpu_threads(runtime.threads, world)
        torch.set_num_threads(threads)
        # the config keeps threads: 0 ("choose"); the log says what was chosen, so a slow run can be read
        log.info("training on the CPU with %d torch thread%s", threads, "" if threads == 1 else "s")
    else:
        torch.backends.cudnn.benchmark = not runtime.deterministic
    if runtime.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    return Env(device=device, precision=_resolve_precision(runtime.precision, device),
               channels_last=runtime.channels_last, rank=rank, world=world, local_rank=local_rank)


def wrap(model: torch.nn.Module, env: Env) -> torch.nn.Module:
    if not env.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    ids = [env.device.index] if env.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def sync_buffers(model: torch.nn.Module, env: Env) -> None:
    """Give every rank rank 0's buffers (BatchNorm statistics).

    DDP broadcasts buffers at the start of each forward, but the last training step
    updates them locally, so without this the ranks would validate different models.
    """
    if env.distributed:
        for buf in model.buffers():
            torch.distributed.broadcast(buf, src=0)


def all_reduce_sum(values: list[float], env: Env) -> list[float]:
    """Sum per-rank totals (loss sums, sample counts) so every rank logs the global figure."""
    if not env.distributed:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=env.device)
    torch.distributed.all_reduce(t)
    return t.tolist()


def gather_arrays(arrays: dict, env: Env) -> dict:
    """Concatenate numpy arrays of every rank (evaluation outputs) on every rank."""
    if not env.distributed:
        return arrays
    import numpy as np

    parts: list = [None] * env.world
    torch.distributed.all_gather_object(parts, arrays)
    return {k: np.concatenate([p[k] for p in parts]) for k in arrays}


def barrier(env: Env) -> None:
    if env.distributed:
        torch.distributed.barrier()


def teardown(env: Env) -> None:
    if env.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
