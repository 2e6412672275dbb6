"""Image geometry shared by both image encoders: resize, normalise, pad, and back.

Both encoders see a square input: the longest image side is resized to the encoder's
input size, pixels are normalised, and the bottom/right is zero-padded (SAM's recipe,
which LISA and PISA inherit). `postprocess_masks` undoes exactly that geometry so the
mask is the input image's HxW. Each encoder names its own `PilResize`: the resampling
filter of the reference it mirrors.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


@dataclass(frozen=True)
class PreprocessedImage:
    """One image ready for an image encoder, plus the geometry to undo it.

    pixel_values: float tensor (1, 3, S, S) on the encoder's device, in its dtype.
    original_size: (H, W) of the input image.
    resized_size: (h, w) after resizing the longest side to S, before padding.
    padded_size: S, the square side the image was zero-padded to.
    """

    pixel_values: torch.Tensor
    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    padded_size: int


def check_rgb_image(rgb: np.ndarray) -> None:
    """Raise a clear error unless `rgb` is a non-empty HxWx3 uint8 numpy array."""
    if not isinstance(rgb, np.ndarray):
        raise TypeError(
            f"expected the image as a numpy array (H, W, 3) of uint8 RGB, got {type(rgb).__name__}: "
            "convert it with np.asarray(image)"
        )
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(
            f"expected an RGB image of shape (H, W, 3), got shape {rgb.shape}: "
            "convert grayscale/RGBA images to RGB first (e.g. cv2.cvtColor)"
        )
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected a non-empty image, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(
            f"expected an RGB image of dtype uint8, got {rgb.dtype}: "
            "scale float images to 0..255 and convert with .astype(np.uint8)"
        )


def resized_shape(height: int, width: int, longest_side: int) -> tuple[int, int]:
    """(h, w) with the longest side equal to `longest_side`, rounded as segment-anything does."""
    if longest_side < 1:
        raise ValueError(f"longest_side must be a positive number of pixels, got {longest_side}")
    scale = longest_side / max(height, width)
    # max(1, ...) keeps extreme aspect ratios (e.g. 1x5000) from collapsing to zero rows.
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def preprocess_rgb(
    rgb: np.ndarray,
    *,
    size: int,
    resize: PilResize,
    mean: tuple[float, float, float],
    std: tuple[float, float, float],
    device: torch.device | str,
    dtype: torch.dtype,
) -> PreprocessedImage:
    """Resize the longest side to `size` with `resize`, normalise with 0..255 `mean`/`std`, zero-pad to size x size.

    Only the uint8 image is transferred to `device`; normalising and padding run there.
    """
    check_rgb_image(rgb)
    height, width = rgb.shape[:2]
    new_height, new_width = resized_shape(height, width, size)
    if (new_height, new_width) != (height, width):
        image = resize(rgb, (new_height, new_width), device)
    else:
        image = rgb_to_device(rgb, device)
    mean_t, std_t = normalisation_constants(tuple(mean), tuple(std), image.device)
    image = (image - mean_t) / std_t
    image = F.pad(image, (0, size - new_width, 0, size - new_height))
    return PreprocessedImage(
        pixel_values=image.to(dtype),
        original_size=(height, width),
        resized_size=(new_height, new_width),
        padded_size=size,
    )


def rgb_to_device(rgb: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """HxWx3 uint8 RGB -> (1, 3, H, W) float32 on `device`; only the uint8 frame is transferred."""
    with warnings.catch_warnings():
        # Read-only arrays (PIL, ROS buffers) are fine: the tensor is only read, never written.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        image = torch.from_numpy(np.ascontiguousarray(rgb))
    return image.to(device).permute(2, 0, 1).unsqueeze(0).float()


# PIL filter -> F.interpolate's antialiased kernel of the same name (PIL's support and weights).
_TORCH_MODES = {Image.Resampling.BILINEAR: "bilinear", Image.Resampling.BICUBIC: "bicubic"}


@dataclass(frozen=True)
class PilResize:
    """PIL's `Image.resize((w, h), filter)` of a uint8 RGB image, run where the model runs.

    Off CUDA it is PIL itself: the pixels are PIL's, bit for bit. On CUDA only the uint8
    frame is copied, and torch's antialiased kernel of the same name is rounded to 8 bits.
    For BILINEAR that is within one grey level of PIL by construction: PIL's only other
    step, rounding to 8 bits between its horizontal and vertical pass, moves a value by at
    most half a level, which the second pass's non-negative weights cannot enlarge. For
    BICUBIC, PIL also clips that intermediate, so where its negative lobes overshoot (sharp
    edges) a few values differ by more.
    """

    filter: Image.Resampling

    def __post_init__(self):
        if self.filter not in _TORCH_MODES:
            names = ", ".join(f.name for f in _TORCH_MODES)
            raise ValueError(f"PilResize supports the PIL filters {names}, got {self.filter!r}")

    def __call__(self, rgb: np.ndarray, size: tuple[int, int], device: torch.device | str) -> torch.Tensor:
        """HxWx3 uint8 `rgb` resized to `size` (h, w) -> (1, 3, h, w) float32 0..255 on `device`."""
        if torch.device(device).type == "cuda":
            return self.with_torch(rgb_to_device(rgb, device), size)
        return rgb_to_device(self.with_pil(rgb, size), device)

    def with_pil(self, rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """The reference: PIL's resize of HxWx3 uint8 `rgb` to `size` (h, w), as uint8."""
        return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), self.filter))

    def with_torch(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """The GPU path on (1, 3, H, W) 0..255 pixels on any device, rounded to 8 bits as PIL's are."""
        resized = F.interpolate(image, size, mode=_TORCH_MODES[self.filter], align_corners=False, antialias=True)
        return resized.round_().clamp_(0, 255)


@functools.lru_cache(maxsize=8)
def normalisation_constants(
    mean: tuple[float, ...], std: tuple[float, ...], device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(1, 3, 1, 1) mean and std on `device`, made once instead of copied to the GPU every frame."""
    def as_tensor(values):
        return torch.tensor(values, dtype=torch.float32, device=device).view(1, 3, 1, 1)

    return as_tensor(mean), as_tensor(std)


def postprocess_masks(low_res_logits: torch.Tensor, pre: PreprocessedImage) -> torch.Tensor:
    """Mask logits (B, N, h, w) -> float32 logits (B, N, H, W) at the original image size.

    Upsamples to the padded square (bilinear), crops the padding away, and resizes to
    `pre.original_size`. The mask is `logits > 0`.
    """
    if low_res_logits.ndim != 4:
        raise ValueError(
            f"expected low-resolution mask logits of shape (B, N, h, w), got {tuple(low_res_logits.shape)}"
        )
    side = pre.padded_size
    logits = F.interpolate(low_res_logits.float(), (side, side), mode="bilinear", align_corners=False)
    logits = logits[..., : pre.resized_size[0], : pre.resized_size[1]]
    if pre.resized_size != pre.original_size:
        logits = F.interpolate(logits, pre.original_size, mode="bilinear", align_corners=False)
    return logits
