"""PartPipeline on one synthetic frame with a stand-in model: the result carries exactly the
part's points, each with the colour of its pixel, for a part-sized and a frame-sized mask."""
import types

import numpy as np
import pytest

from instructpart_ros.geometry import extract_part_points, part_geometry
from instructpart_ros.ros.conversions import mask_to_image, pointcloud2_to_points
from instructpart_ros.ros.frame_decoding import decode_frame
from instructpart_ros.ros.instruction_policy import InferencePlan
from instructpart_ros.ros.node_parameters import NodeConfig
from instructpart_ros.ros.part_pipeline import PartPipeline
from instructpart_ros.ros.synthetic_scene import synthetic_knife_frame


class FixedMask:
    """Stands in for PartSegmenter (without importing torch): ``mask`` for any image and instruction."""

    def __init__(self, mask):
        self.mask = mask

    def segment(self, rgb, instruction, mode="generate"):
        return types.SimpleNamespace(mask=self.mask.copy(), score=0.5, answer="[SEG]", found=True, reason="",
                                     prompt_embedding=None)


def mosaic_frame():
    """The synthetic knife frame with every pixel a different colour, so a wrong pixel shows."""
    frame = synthetic_knife_frame()
    rows, cols = np.indices(frame.depth_mm.shape)
    frame.rgb[:] = np.stack([rows % 256, cols % 256, (rows * 7 + cols * 13) % 256], axis=-1)
    return frame


@pytest.mark.parametrize("region", [(slice(220, 263), slice(140, 291)), (slice(None), slice(None))],
                         ids=["handle", "whole frame"])
def test_points_and_their_colours_are_the_parts_pixels(region):
    frame = mosaic_frame()
    mask = np.zeros(frame.depth_mm.shape, bool)
    mask[region] = True
    config = NodeConfig.from_values({"model_checkpoint": "unused"})
    output = PartPipeline(FixedMask(mask), config).run(*frame.messages(0), InferencePlan("cut the bread"))

    decoded = decode_frame(*frame.messages(0))
    part = extract_part_points(decoded.depth, decoded.intrinsics, mask, config.part_filter())
    points, colors = pointcloud2_to_points(output.result.points)
    np.testing.assert_array_equal(points, part.points)
    rows, cols = np.unravel_index(part.pixels, mask.shape)
    np.testing.assert_array_equal(colors, frame.rgb[rows, cols])
    assert output.result.mask == mask_to_image(mask, output.result.header)  # 0/255 mono8, bit for bit
    geometry = part_geometry(part.points, config.pose_voxel_size, config.pose_min_points)
    np.testing.assert_array_equal(output.geometry.extent, geometry.extent)
    assert (output.result.status, output.result.num_points) == ("ok", len(part.points))
    assert list(output.stage_ms) == ["decode", "model", "mask", "points", "pose", "colours", "message"]
    assert all(ms >= 0 for ms in output.stage_ms.values()) and output.stage_ms["model"] == output.model_ms
    assert len(part.points) > (200_000 if region[0] == slice(None) else 5_000)


class LeftHalfMask:
    """Stands in for the model: remembers the image it was given, masks its left half."""

    def segment(self, rgb, instruction, mode="generate"):
        self.seen = rgb
        mask = np.zeros(rgb.shape[:2], bool)
        mask[:, : rgb.shape[1] // 2] = True
        return types.SimpleNamespace(mask=mask, score=0.5, answer="[SEG]", found=True, reason="",
                                     prompt_embedding=None)


@pytest.mark.parametrize("max_pixels, model_shape", [(100_000, (273, 365)), (0, (480, 640)), (307_200, (480, 640))])
def test_frames_above_model_max_pixels_are_downscaled_for_the_model_only(max_pixels, model_shape):
    frame = mosaic_frame()
    model = LeftHalfMask()
    config = NodeConfig.from_values({"model_checkpoint": "unused", "model_max_pixels": max_pixels})
    output = PartPipeline(model, config).run(*frame.messages(0), InferencePlan("cut the bread"))
    assert model.seen.shape == (*model_shape, 3)
    if model_shape != (480, 640):  # an area average of the frame, not a crop
        np.testing.assert_allclose(model.seen.mean(axis=(0, 1)), frame.rgb.mean(axis=(0, 1)), atol=1.0)
    expected = np.zeros((480, 640), bool)
    expected[:, :320] = True  # the half-image mask at the frame's own size
    assert output.result.mask == mask_to_image(expected, output.result.header)
    decoded = decode_frame(*frame.messages(0))
    part = extract_part_points(decoded.depth, decoded.intrinsics, expected, config.part_filter())
    np.testing.assert_array_equal(pointcloud2_to_points(output.result.points)[0], part.points)  # full resolution
