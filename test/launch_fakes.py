"""Stand-ins for ``launch`` and ``launch_ros`` (not installable here) that record what a launch file builds.

A launch file is run against them, so its arguments, parameters, remappings and
executable can be compared with its config file, its node's inputs and the colcon install.
"""
import importlib.util
import sys
import types


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
