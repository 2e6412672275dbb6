"""The package installs the two ways users install it, and keeps its layers apart."""
import ast
import os
import pathlib
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
PKG = REPO / "instructpart_ros"

# ROS packages (by import name) -> the package.xml key that must declare them.
ROS_IMPORTS = {"rclpy", "std_msgs", "sensor_msgs", "geometry_msgs", "visualization_msgs",
               "diagnostic_msgs", "lifecycle_msgs", "std_srvs", "builtin_interfaces",
               "launch", "launch_ros", "rcl_interfaces", "ament_index_python"}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _py_files(*parts: str):
    return sorted((PKG.joinpath(*parts)).rglob("*.py"))


def test_only_the_ros_layer_imports_ros():
    offenders = {}
    for path in _py_files():
        if "ros" in path.relative_to(PKG).parts[:1]:
            continue
        ros = _imports(path) & ROS_IMPORTS
        if ros:
            offenders[str(path.relative_to(REPO))] = sorted(ros)
    assert offenders == {}, f"only instructpart_ros/ros/ may import ROS: {offenders}"


@pytest.mark.parametrize("layer", ["geometry", "grasping"])
def test_geometry_and_grasping_never_import_torch(layer):
    files = _py_files(layer)
    assert files, f"no {layer} modules found"
    offenders = [str(p.relative_to(REPO)) for p in files if "torch" in _imports(p)]
    assert offenders == []


def test_datasets_import_neither_torch_nor_ros():
    """datasets/ (synthetic scenes, depth files) is numpy/OpenCV/PIL/YAML only."""
    files = _py_files("datasets")
    assert files, "instructpart_ros/datasets/ is missing"
    offenders = {str(p.relative_to(REPO)): sorted(_imports(p) & ({"torch"} | ROS_IMPORTS))
                 for p in files if _imports(p) & ({"torch"} | ROS_IMPORTS)}
    assert offenders == {}


def test_importing_every_grasping_module_loads_no_torch_or_rclpy():
    modules = sorted(f"instructpart_ros.grasping.{p.stem}" for p in _py_files("grasping") if p.stem != "__init__")
    code = (f"import sys, {', '.join(modules)}\n"
            "print(sorted(m for m in ('torch', 'rclpy', 'open3d') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_package_xml_declares_every_ros_dependency_the_code_uses():
    root = ET.parse(REPO / "package.xml").getroot()
    declared = {e.text for e in root if e.tag.endswith("depend")}
    used = set()
    for path in list(_py_files()) + sorted((REPO / "launch").glob("*.py")) + sorted((REPO / "scripts").glob("*_node")):
        used |= _imports(path) & ROS_IMPORTS
    used.discard("builtin_interfaces")  # comes with every message package
    assert used - declared == set(), f"package.xml lacks {sorted(used - declared)}"
    for key in ("ament_cmake", "rosidl_default_generators", "rosidl_default_runtime"):
        assert key in declared


@pytest.fixture()
def colcon_install() -> pathlib.Path:
    """The package's colcon install prefix as ROS finds it (install/, or install-jazzy/ for
    ROS_DISTRO=jazzy: whichever scripts/env.sh sourced)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_prefix
    except ImportError:
        pytest.skip("needs a ROS environment: run make setup, then make test")
    try:
        return pathlib.Path(get_package_prefix("instructpart_ros"))
    except PackageNotFoundError:
        pytest.skip("needs the colcon install: run make setup")


@pytest.mark.ros
def test_colcon_install_layout(colcon_install):
    site = colcon_install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages" / "instructpart_ros"
    for sub in ("msg", "srv", "geometry", "model", "evaluation", "datasets", "training", "download", "grasping", "ros"):
        assert (site / sub).is_dir(), f"{sub} missing from the install"
    executables = colcon_install / "lib" / "instructpart_ros"
    for node in sorted(p.name for p in (REPO / "scripts").glob("*_node")):
        exe = executables / node
        assert exe.exists() and os.access(exe, os.X_OK), f"{exe} is not an installed executable"
    share = colcon_install / "share" / "instructpart_ros"
    assert (share / "package.xml").exists()
    for name in os.listdir(REPO / "launch"):
        if name.endswith(".py"):
            assert (share / "launch" / name).exists()
    for name in os.listdir(REPO / "config"):
        if name.endswith(".yaml"):
            assert (share / "config" / name).exists()
    # the tiny synth-trained model make demo serves without user weights, byte for byte
    models = REPO / "models"
    committed = sorted(path.relative_to(models) for path in models.rglob("*") if path.is_file())
    assert "pisa-tiny-synth/checkpoint/model.safetensors" in map(str, committed)
    for name in committed:
        assert (share / "models" / name).read_bytes() == (models / name).read_bytes(), name


@pytest.mark.ros
def test_generated_interfaces_and_library_share_one_namespace(colcon_install):
    code = ("import instructpart_ros, instructpart_ros.geometry, instructpart_ros.evaluation\n"
            "from instructpart_ros.msg import PartSegmentation, GraspCandidates\n"
            "from instructpart_ros.srv import SegmentPart\n"
            "m = PartSegmentation(status='ok', num_points=3)\n"
            "print(m.status, m.num_points, SegmentPart.Request().use_latest_frame, GraspCandidates().convention == '')")
    site = colcon_install / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["ok", "3", "False", "True"]


def test_pip_install_without_ros(tmp_path):
    """`pip install .` into a venv with no ROS: the library and the CLI work, rclpy is absent."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AMENT_PREFIX_PATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{REPO}", "torch==2.13.0"],
        capture_output=True, text=True, env=env, cwd=tmp_path)
    assert install.returncode == 0, install.stderr[-3000:]
    code = ("import importlib.util, instructpart_ros.geometry, instructpart_ros.evaluation, instructpart_ros.model\n"
            "print(importlib.util.find_spec('rclpy') is None, instructpart_ros.__file__)")
    out = subprocess.run([str(py), "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    no_rclpy, location = out.stdout.split()
    assert no_rclpy == "True"
    assert location.startswith(str(venv)), location
    cli = subprocess.run([str(venv / "bin" / "instructpart"), "--help"], capture_output=True, text=True, env=env)
    assert cli.returncode == 0 and "eval" in cli.stdout, cli.stdout + cli.stderr


def test_a_ros_distro_without_wheels_is_refused_naming_those_with_wheels():
    env = dict(os.environ, ROS_DISTRO="humble")
    for command in (["bash", "scripts/setup.sh"], ["bash", "-c", "source scripts/env.sh"]):
        run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert run.returncode == 1, (command, run.stdout, run.stderr)
        assert "ROS_DISTRO=humble has no Python package index wheels here" in run.stderr, run.stderr
        assert "use one of: jazzy kilted" in run.stderr, run.stderr
    assert not (REPO / ".venv-humble").exists()


# rclpy's major version in each distribution (rclpy 3.3 Humble, 7.1 Jazzy, 9.1 Kilted).
RCLPY_MAJOR = {"humble": 3, "jazzy": 7, "kilted": 9}


@pytest.mark.ros
def test_the_tests_run_against_the_ros_distribution_they_name(colcon_install):
    """make test ROS_DISTRO=jazzy must test Jazzy's rclpy and the Jazzy build, not Kilted's."""
    import importlib.metadata
    distro = os.environ.get("ROS_DISTRO")
    assert distro in RCLPY_MAJOR, f"ROS_DISTRO={distro!r}: scripts/env.sh sets it"
    rclpy_version = importlib.metadata.version("ros-rclpy")
    assert int(rclpy_version.split(".")[0]) == RCLPY_MAJOR[distro], (distro, rclpy_version)
    expected = "install" if distro == "kilted" else f"install-{distro}"
    assert colcon_install.parent == REPO / expected, colcon_install
