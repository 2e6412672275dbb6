"""Shared fixtures: where the real data lives, and an isolated ROS 2 domain.

Real data comes from ``INSTRUCTPART_DATA`` (a folder holding ``InstructPart/``,
``shapegrasp-knife/`` and ``shapegrasp_table_tasks.yaml``); ``make test`` points it at
``../shared/data``. Tests that need it fail loudly when ``make test`` set it but the
folder is incomplete, and skip with the reason when a user runs pytest without it.

The ROS-facing tests (marker ``ros``) are the ones a second ROS distribution must pass:
every test in the files named in ``ROS_FACING_FILES`` plus tests marked
``@pytest.mark.ros`` elsewhere. ``make test ROS_DISTRO=jazzy`` runs ``-m ros``.
"""
import fnmatch
import os
import pathlib

import pytest

DATA_ENV = "INSTRUCTPART_DATA"

# rclpy, DDS round trips, the nodes, the launch files: everything that depends on the
# ROS 2 distribution (the model, geometry and evaluation tests do not).
ROS_FACING_FILES = ("test_ros_*.py", "test_launch_*.py", "test_demo.py")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ros: depends on the ROS 2 distribution (rclpy, DDS, nodes, launch, colcon install)")


def pytest_collection_modifyitems(items):
    for item in items:
        if any(fnmatch.fnmatch(item.path.name, pattern) for pattern in ROS_FACING_FILES):
            item.add_marker(pytest.mark.ros)


def _data_root() -> pathlib.Path:
    value = os.environ.get(DATA_ENV)
    if not value:
        pytest.skip(f"{DATA_ENV} is not set: point it at the shared data folder (make test does)")
    root = pathlib.Path(value)
    if not root.is_dir():
        pytest.fail(f"{DATA_ENV}={value} is not a directory")
    return root


def _require(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.fail(f"{path} is missing from {DATA_ENV}")
    return path


@pytest.fixture(scope="session")
def data_root() -> pathlib.Path:
    return _data_root()


@pytest.fixture(scope="session")
def knife_dir(data_root) -> pathlib.Path:
    """The real 1280x800 RGB-D knife frame (see its README)."""
    return _require(data_root / "shapegrasp-knife")


@pytest.fixture(scope="session")
def instructpart_root(data_root) -> pathlib.Path:
    """InstructPart in its released layout (50 real test samples here)."""
    return _require(data_root / "InstructPart")


@pytest.fixture(scope="session")
def tabletop_tasks_file(data_root) -> pathlib.Path:
    return _require(data_root / "shapegrasp_table_tasks.yaml")


@pytest.fixture()
def ros_domain(monkeypatch) -> int:
    """A ROS_DOMAIN_ID of this test's own, so parallel runs on one host never meet."""
    domain = 1 + (os.getpid() % 100)
    monkeypatch.setenv("ROS_DOMAIN_ID", str(domain))
    monkeypatch.setenv("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA")
    return domain


@pytest.fixture(scope="session")
def knife_parts(knife_dir):
    """The knife frame with its handle and blade masks and points (test/knife_grasps.py)."""
    from knife_grasps import load_knife

    return load_knife(knife_dir)


@pytest.fixture(scope="session")
def knife_named_grasps(knife_parts):
    """Grasps placed on the knife by name (across the handle, on the blade, ...; test/knife_grasps.py)."""
    from knife_grasps import knife_grasps

    return knife_grasps(knife_parts)
