"""Training PISA and LISA (LoRA fine-tuning, DDP/FSDP, exact resume); no ROS.

Public API::

    from instructpart_ros.training import load_recipe, train
    result = train(load_recipe("config/pisa_instructpart.yaml", ["model.lisa=/data/LISA-7B-v1", ...]),
                   data_root="/data/InstructPart", run_dir="runs/pisa")
"""
from .recipe import Recipe, load_recipe
from .trainer import TrainingResult, train

__all__ = ["Recipe", "TrainingResult", "load_recipe", "train"]
