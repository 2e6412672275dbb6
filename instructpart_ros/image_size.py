"""The smallest colour image the models take: one check for the model layer and the ROS node.

Torch-free, so the node checks frames before it has imported the model.
"""
from __future__ import annotations

# Both image encoders see 14-16 pixel patches (CLIP and DINOv2 ViT-L/14, SAM ViT-H/16): an
# image narrower than one patch holds no detail to find a part in, and sides of 1 or 3
# pixels are where image processors start guessing which axis holds the channels.
MIN_IMAGE_SIDE = 16


def check_image_size(height: int, width: int) -> None:
    """Raise ``ValueError`` naming the size and the limit unless both sides are at least ``MIN_IMAGE_SIDE``."""
    if min(height, width) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"image is {width}x{height} pixels (width x height): too small for the model, which needs at "
            f"least {MIN_IMAGE_SIDE} pixels on each side; send the camera's full frame"
        )
