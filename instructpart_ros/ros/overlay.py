"""The part mask drawn over the colour image (debug/overlay topic and the demo's PNG)."""
from __future__ import annotations

import cv2
import numpy as np

MASK_COLOR = (255, 40, 40)  # RGB


def overlay_mask(rgb: np.ndarray, mask: np.ndarray, alpha: float = 0.5, color=MASK_COLOR) -> np.ndarray:
    """``rgb`` with the mask tinted and outlined in ``color`` (RGB); the input is not modified."""
    if mask.shape != rgb.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image's {rgb.shape[:2]}")
    overlay = rgb.copy()
    if not mask.any():
        return overlay
    tint = np.empty_like(rgb)
    tint[:] = color
    blended = cv2.addWeighted(rgb, 1.0 - alpha, tint, alpha, 0.0)
    overlay[mask] = blended[mask]
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(overlay, contours, -1, tuple(int(c) for c in color), thickness=2)
    return overlay
