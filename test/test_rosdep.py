"""package.xml as a robot resolves it, and the Python version the package needs.

``rosdep install --from-paths src -y`` (the README's command) runs here against the real
rosdep database and the Humble, Jazzy and Kilted release lists (ros/rosdistro at 8468e88, in
``INSTRUCTPART_DATA/rosdep``), offline: rosdep from PyPI, its sources list and rosdistro index
pointing at those files. Humble resolves for Ubuntu jammy, Jazzy and Kilted for noble
(REP 2000). vermin checks the code against Humble's Python, 3.10.
"""
import configparser
import os
import pathlib
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parents[1]
# Each distribution the package must install on, with the Ubuntu release it targets.
PLATFORMS = {"humble": "ubuntu:jammy", "jazzy": "ubuntu:noble", "kilted": "ubuntu:noble"}
SYSTEM_DATABASE = ("base.yaml", "python.yaml")  # rosdep's keys for non-ROS dependencies
HUMBLE_PYTHON = "3.10"  # Ubuntu 22.04's python3
# What vermin checks: everything that runs on a robot's Python.
ROBOT_CODE = ["instructpart_ros", "launch", "setup.py"] + sorted(str(p) for p in (REPO / "scripts").glob("*_node"))


def _tool(name: str) -> str:
    """A console script of the test extras, beside this interpreter."""
    path = pathlib.Path(sys.executable).parent / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: run make setup (pip install -e '.[test]')")
    return str(path)


def declared_keys(package_xml: str) -> set:
    """Every dependency key of a package.xml (all *_depend kinds)."""
    root = ET.fromstring(package_xml)
    return {element.text.strip() for element in root if element.tag.endswith("depend")}


@pytest.fixture(scope="module")
def rosdep_data(data_root) -> pathlib.Path:
    path = data_root / "rosdep"
    needed = SYSTEM_DATABASE + tuple(f"{distro}-distribution.yaml" for distro in PLATFORMS)
    missing = [name for name in needed if not (path / name).is_file()]
    if missing:
        pytest.fail(f"{path} lacks {missing}: it holds the rosdep database and the release lists")
    return path


@pytest.fixture(scope="module")
def system_keys(rosdep_data) -> set:
    """The rosdep keys of system (non-ROS) dependencies; any other key must be a released ROS package."""
    keys = set()
    for name in SYSTEM_DATABASE:
        keys |= set(yaml.load((rosdep_data / name).read_text(), Loader=yaml.CSafeLoader))
    return keys


@pytest.fixture(scope="module")
def rosdep_env(rosdep_data, tmp_path_factory) -> dict:
    """The environment of a rosdep that reads only the local database: its own sources list,
    a rosdistro index of the three release lists and its own cache, then ``rosdep update``."""
    home = tmp_path_factory.mktemp("rosdep_home")
    sources = home / "sources.list.d"
    sources.mkdir()
    (sources / "20-default.list").write_text(
        "".join(f"yaml {(rosdep_data / name).as_uri()}\n" for name in SYSTEM_DATABASE))
    index = {"type": "index", "version": 4, "distributions": {
        distro: {"distribution": [(rosdep_data / f"{distro}-distribution.yaml").as_uri()],
                 "distribution_status": "active", "distribution_type": "ros2", "python_version": 3}
        for distro in PLATFORMS}}
    (home / "index-v4.yaml").write_text(yaml.safe_dump(index))
    # PIP_BREAK_SYSTEM_PACKAGES: what the README tells noble users to set for the -pip keys.
    env = dict(os.environ, ROSDEP_SOURCE_PATH=str(sources), ROSDISTRO_INDEX_URL=(home / "index-v4.yaml").as_uri(),
               ROS_HOME=str(home), ROS_PYTHON_VERSION="3", PIP_BREAK_SYSTEM_PACKAGES="1")
    update = subprocess.run([_tool("rosdep"), "update"], env=env, capture_output=True, text=True, timeout=120)
    assert update.returncode == 0, update.stdout + update.stderr
    assert all(f'Add distro "{distro}"' in update.stdout for distro in PLATFORMS), update.stdout
    return env


def rosdep_install(env: dict, package_xml: str, distro: str, workspace: pathlib.Path):
    """``rosdep install --from-paths src -y`` for ``distro`` on its Ubuntu, simulated with every
    dependency treated as missing. Returns the run and its plan: installer -> packages."""
    package = workspace / "src" / "instructpart_ros"
    package.mkdir(parents=True)
    (package / "package.xml").write_text(package_xml)
    run = subprocess.run(
        [_tool("rosdep"), "install", "--from-paths", str(workspace / "src"), "-y", "--simulate", "--reinstall",
         "--os", PLATFORMS[distro], "--rosdistro", distro],
        env=env, capture_output=True, text=True, timeout=120)
    plan, installer = {}, None
    for line in run.stdout.splitlines():
        header = re.match(r"#\[(\w+)\] Installation commands:", line)
        if header:
            installer = header.group(1)
        elif installer and line.strip():
            plan.setdefault(installer, []).append(line.split()[-1])  # "apt-get install -y <package>"
    return run, plan


@pytest.mark.parametrize("distro", PLATFORMS)
def test_rosdep_install_resolves_every_dependency(distro, rosdep_env, system_keys, tmp_path):
    package_xml = (REPO / "package.xml").read_text()
    run, plan = rosdep_install(rosdep_env, package_xml, distro, tmp_path)
    assert run.returncode == 0, f"rosdep install fails on {distro} ({PLATFORMS[distro]}):\n{run.stderr}"
    apt = set(plan.get("apt", []))
    ros_packages = declared_keys(package_xml) - system_keys
    assert {"rclpy", "std_msgs", "launch_ros"} <= ros_packages
    not_released = sorted(key for key in ros_packages if f"ros-{distro}-{key.replace('_', '-')}" not in apt)
    assert not_released == [], f"not released in ROS 2 {distro}: {not_released}"
    # torch is left to the user (the PyTorch index's CUDA build): rosdep must not install the
    # distribution's CPU-only python3-torch, nor a pip torch of its choosing.
    everything = {package for packages in plan.values() for package in packages}
    assert not everything & {"python3-torch", "torch", "torchvision"}, plan
    assert {"transformers", "rosbags"} <= set(plan.get("pip", [])), plan


@pytest.mark.parametrize("distro, key", [
    ("jazzy", "python3-safetensors"),           # no such rosdep key (the old package.xml had it)
    ("humble", "type_description_interfaces"),  # a ROS package released for Jazzy and Kilted only
])
def test_rosdep_install_fails_naming_a_key_it_cannot_resolve(distro, key, rosdep_env, tmp_path):
    """The check above is real: one unresolvable key makes the whole command fail, naming it."""
    package_xml = (REPO / "package.xml").read_text().replace(
        "<exec_depend>rclpy</exec_depend>", f"<exec_depend>rclpy</exec_depend><exec_depend>{key}</exec_depend>")
    assert key in declared_keys(package_xml)
    run, _ = rosdep_install(rosdep_env, package_xml, distro, tmp_path)
    assert run.returncode != 0
    assert f"Cannot locate rosdep definition for [{key}]" in run.stderr, run.stderr


def test_python_floor_is_humbles_and_the_code_keeps_to_it(tmp_path):
    """setup.cfg's python_requires is Humble's Python, and vermin finds nothing newer in the code."""
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    assert config["options"]["python_requires"].strip() == f">={HUMBLE_PYTHON}"
    command = [_tool("vermin"), "--no-tips", "--violations", "--eval-annotations", f"-t={HUMBLE_PYTHON}-"]
    run = subprocess.run(command + ROBOT_CODE, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"Python newer than {HUMBLE_PYTHON} in the code:\n{run.stdout}{run.stderr}"
    assert "Target versions not met" not in run.stdout

    newer = tmp_path / "newer.py"  # the same check on 3.11-only code fails and names it
    newer.write_text("import tomllib\ntry:\n    pass\nexcept* ValueError:\n    pass\n")
    run = subprocess.run(command + [str(newer)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0 and "`except*` requires !2, 3.11" in run.stdout, run.stdout
