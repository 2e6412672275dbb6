"""Files the package ships beside its Python code (config/, msg/, launch/): found in the source
tree, else in an installed ``share/instructpart_ros`` on ``AMENT_PREFIX_PATH``. No ROS import."""
from __future__ import annotations

import os
import pathlib

PACKAGE = "instructpart_ros"
SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[1]


def find_share_file(*parts: str) -> pathlib.Path:
    """``<source root>/<parts>`` when it exists, else ``<prefix>/share/instructpart_ros/<parts>``."""
    source = SOURCE_ROOT.joinpath(*parts)
    if source.is_file():
        return source
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        installed = pathlib.Path(prefix, "share", PACKAGE, *parts)
        if prefix and installed.is_file():
            return installed
    raise FileNotFoundError(
        f"{'/'.join(parts)} not found next to the sources nor in AMENT_PREFIX_PATH's share/{PACKAGE}: "
        "build the package (make setup) and source install/setup.bash")
