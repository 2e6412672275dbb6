"""Scale-out on torch.distributed: DDP by default, FSDP (``fully_shard``) for 7B on smaller GPUs.

One process (no ``torchrun``) runs the model as it is. Under ``torchrun`` DDP keeps a
replica per rank and averages gradients; FSDP shards every LLaMA block, the embedding
and the head as their own units and the rest as the root unit. Both average the
gradients of the global batch, so any process layout takes the same optimiser steps.
"""
from __future__ import annotations

import contextlib

import torch
import torch.distributed as dist
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.nn.parallel import DistributedDataParallel

from instructpart_ros.evaluation.distributed import ProcessGroup

from .step import SegmentationTraining

MODEL_PREFIX = "model."


def wrap(training: SegmentationTraining, strategy: str, group: ProcessGroup, device: torch.device) -> torch.nn.Module:
    """``training`` ready for this process layout (unchanged for one process)."""
    if group.world_size == 1:
        return training
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        llm = training.model.mllm.language_model
        for layer in llm.model.layers:
            fully_shard(layer)
        fully_shard(llm.get_input_embeddings())
        fully_shard(llm.lm_head)
        return fully_shard(training)
    device_ids = [device.index if device.index is not None else torch.cuda.current_device()] \
        if device.type == "cuda" else None
    return DistributedDataParallel(training, device_ids=device_ids)


def is_fsdp(module: torch.nn.Module) -> bool:
    return hasattr(module, "set_requires_gradient_sync")


def unwrapped(module: torch.nn.Module) -> SegmentationTraining:
    return module.module if isinstance(module, DistributedDataParallel) else module


@contextlib.contextmanager
def gradient_sync(module: torch.nn.Module, sync: bool):
    """Forward and backward of one micro-batch; gradients are reduced across ranks only when ``sync``
    (the last micro-batch of an optimiser step)."""
    if isinstance(module, DistributedDataParallel) and not sync:
        with module.no_sync():
            yield
        return
    if is_fsdp(module):
        module.set_requires_gradient_sync(sync)
    yield


@contextlib.contextmanager
def gathered_for_inference(module: torch.nn.Module):
    """Inside: the root unit's weights whole on every rank, so submodules can be called directly
    (validation runs the inference path, not the training module's forward)."""
    if not is_fsdp(module):
        yield
        return
    module.unshard()
    try:
        yield
    finally:
        module.reshard()


def mean_over_ranks(values: dict[str, float], group: ProcessGroup) -> dict[str, float]:
    """Each value averaged over the processes (for logs)."""
    if group.world_size == 1 or not values:
        return values
    keys = sorted(values)
    tensor = torch.tensor([values[k] for k in keys], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        tensor = tensor.cuda()
    dist.all_reduce(tensor)
    return {k: float(v) / group.world_size for k, v in zip(keys, tensor.cpu())}


def full_state_dict(module: torch.nn.Module, group: ProcessGroup) -> dict[str, torch.Tensor]:
    """The whole model's state (frozen weights too, LoRA unmerged) on the main process's CPU, under
    :class:`PartSegmentationModel` names; other ranks get an empty dict. Every rank calls this."""
    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    state = get_model_state_dict(module, options=options)
    if not group.is_main:
        return {}
    return {name.removeprefix(MODEL_PREFIX): tensor for name, tensor in state.items()}
