"""Files the package ships beside its Python code (config/, msg/, launch/, models/): found in the source
tree, else in an installed ``share/instructpart_ros`` on ``AMENT_PREFIX_PATH``. No ROS import."""
from __future__ import annotations

import os
import pathlib

PACKAGE = "instructpart_ros"
SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[1]


def share_candidates(*parts: str) -> list[pathlib.Path]:
    """Where ``parts`` may be, in order: the source tree, then each ``share/instructpart_ros`` on
    ``AMENT_PREFIX_PATH``."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [SOURCE_ROOT.joinpath(*parts)] + [pathlib.Path(p, "share", PACKAGE, *parts) for p in prefixes]


def find_share_dir(*parts: str) -> pathlib.Path | None:
    """The first folder ``parts`` of :func:`share_candidates` that exists, else None."""
    return next((path for path in share_candidates(*parts) if path.is_dir()), None)


def find_share_file(*parts: str) -> pathlib.Path:
    """``<source root>/<parts>`` when it exists, else ``<prefix>/share/instructpart_ros/<parts>``."""
    found = next((path for path in share_candidates(*parts) if path.is_file()), None)
    if found is not None:
        return found
    raise FileNotFoundError(
        f"{'/'.join(parts)} not found next to the sources nor in AMENT_PREFIX_PATH's share/{PACKAGE}: "
        "build the package (make setup) and source install/setup.bash")
