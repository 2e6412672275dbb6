"""The geometry layer's import rules: numpy/OpenCV/scipy only, never torch, rclpy or open3d."""
import subprocess
import sys

import instructpart_ros.geometry as geometry

PUBLIC_API = {
    "Intrinsics", "backproject", "PartFilter", "PartPoints", "extract_part_points",
    "PartGeometry", "part_geometry",
}


def test_public_api_is_exported():
    assert PUBLIC_API <= set(geometry.__all__)
    assert all(hasattr(geometry, name) for name in geometry.__all__)


def test_importing_geometry_loads_no_torch_rclpy_or_open3d():
    code = (
        "import sys, instructpart_ros.geometry; "
        "print(sorted(m for m in ('torch', 'rclpy', 'open3d') if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
