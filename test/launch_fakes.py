"""Stand-ins for ``launch`` and ``launch_ros`` (not installable here) that record what a launch file builds.

A launch file is run against them, so its arguments, parameters, remappings and
executable can be compared with its config file, its node's inputs and the colcon install.
"""
import importlib.util
import os
import pathlib
import sys
import types

import yaml


class Recorded:
    """Stand-in for a launch action: keeps its arguments."""

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs


class LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


def fake_launch_modules():
    modules = {name: types.ModuleType(name) for name in
               ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions")}
    modules["launch"].LaunchDescription = type("LaunchDescription", (Recorded,), {})
    modules["launch.actions"].DeclareLaunchArgument = type("DeclareLaunchArgument", (Recorded,), {})
    modules["launch.actions"].OpaqueFunction = type("OpaqueFunction", (Recorded,), {})
    modules["launch.substitutions"].LaunchConfiguration = LaunchConfiguration
    modules["launch_ros.actions"].Node = type("Node", (Recorded,), {})
    return modules


def load_launch_description(monkeypatch, launch_file):
    """``generate_launch_description()`` of ``launch_file``, run against the stand-ins."""
    for name, module in fake_launch_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location(launch_file.stem.replace(".", "_"), launch_file)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def declared_arguments(description):
    return {action.args[0]: action.kwargs for action in description.args[0]
            if type(action).__name__ == "DeclareLaunchArgument"}


def launch_node(description, **overrides):
    """Run the launch file's OpaqueFunction with default arguments plus ``overrides``."""
    configurations = {name: kwargs["default_value"] for name, kwargs in declared_arguments(description).items()}
    configurations.update(overrides)
    context = types.SimpleNamespace(launch_configurations=configurations)
    (opaque,) = [action for action in description.args[0] if type(action).__name__ == "OpaqueFunction"]
    (node,) = opaque.kwargs["function"](context)
    return node.kwargs


GENERAL_ARGUMENTS = {"config_file", "node_name", "namespace"}


def check_arguments_against_config(description, config: pathlib.Path, parameter_names, topic_arguments) -> dict:
    """Every argument is described and is a topic remapping or a YAML parameter (empty: keep the YAML's value),
    and every YAML parameter is an argument, in the parameter table's order. Returns the arguments."""
    arguments = declared_arguments(description)
    yaml_names = list(yaml.safe_load(config.read_text())["/**"]["ros__parameters"])
    parameter_arguments = [name for name in arguments if name not in GENERAL_ARGUMENTS | set(topic_arguments)]
    assert parameter_arguments == yaml_names == list(parameter_names)
    assert {arguments[name]["default_value"] for name in parameter_arguments} == {""}
    assert all(len(kwargs["description"]) > 15 for kwargs in arguments.values())
    return arguments


def check_default_node(description, executable: str, config: pathlib.Path, topic_arguments) -> None:
    """With default arguments the installed executable starts with the installed copy of ``config``."""
    node = launch_node(description)
    assert (node["package"], node["executable"], node["name"], node["namespace"]) == (
        "instructpart_ros", executable, executable, "")
    config_file, overrides = node["parameters"]
    assert overrides == {}
    installed = pathlib.Path(config_file)
    assert installed.parts[-3:] == ("instructpart_ros", "config", config.name)
    assert installed.read_text() == config.read_text()
    assert node["remappings"] == [(topic, topic) for topic in topic_arguments.values()]


def check_installed_executable(executable: str) -> None:
    """The colcon install has ``lib/instructpart_ros/<executable>``, running the node's main()."""
    from ament_index_python.packages import get_package_prefix

    path = pathlib.Path(get_package_prefix("instructpart_ros")) / "lib" / "instructpart_ros" / executable
    assert path.is_file() and os.access(path, os.X_OK)
    assert f"from instructpart_ros.ros.{executable} import main" in path.read_text()
