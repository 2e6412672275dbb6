"""Processes started by ``torchrun``: who am I, which samples are mine, wait for all.

Without torchrun (no ``WORLD_SIZE`` > 1 in the environment) this is one process of
rank 0 and nothing is initialised. With it, ranks join a torch.distributed group
(NCCL on GPUs, gloo on CPU); rank ``r`` of ``w`` takes samples ``r, r+w, r+2w, ...``.
torch is imported only when a group is joined: scoring alone never needs it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Sequence, TypeVar

# Ranks meet only once, after all predictions; one rank may finish its shard long
# before the slowest, so the group must tolerate a long wait.
BARRIER_TIMEOUT = timedelta(hours=6)
T = TypeVar("T")


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the evaluation processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items`` (every ``world_size``-th, from ``rank``)."""
        return list(items[self.rank::self.world_size])

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        if self.world_size > 1:
            import torch.distributed as dist
            dist.barrier()

    def close(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, str(default))
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} must be an integer "
                         "(torchrun sets it)") from None


def join_process_group(device: str) -> ProcessGroup:
    """Join the torchrun group, if there is one, and pin this rank to its GPU.

    ``device`` is ``"cpu"`` or ``"cuda"``; with CUDA, rank's ``LOCAL_RANK`` picks the GPU
    and becomes the current device, so ``"cuda"`` means that GPU from then on.
    """
    import torch
    import torch.distributed as dist

    group = process_group_from_env()
    if device == "cuda":
        if group.local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK {group.local_rank} has no GPU: "
                             f"{torch.cuda.device_count()} visible; start torchrun with "
                             "--nproc_per_node at most the number of GPUs")
        torch.cuda.set_device(group.local_rank)
    if group.world_size > 1:
        if device == "cuda":
            dist.init_process_group("nccl", timeout=BARRIER_TIMEOUT,
                                    device_id=torch.device("cuda", group.local_rank))
        else:
            dist.init_process_group("gloo", timeout=BARRIER_TIMEOUT)
    return group


def process_group_from_env() -> ProcessGroup:
    """Rank, world size and local rank as torchrun set them (one process otherwise)."""
    return ProcessGroup(rank=_env_int("RANK", 0), world_size=_env_int("WORLD_SIZE", 1),
                        local_rank=_env_int("LOCAL_RANK", 0))
