"""What every launch file of the package builds: one node, its YAML parameters, an argument per parameter.

``launch``, ``launch_ros`` and ``ament_index_python`` are imported when a launch file
calls :func:`node_launch_description`, so this module imports without them (they are
not installable from the Python package index; the launch files are tested statically).
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

from .node_parameters import ParameterSpec, parameter_from_text

PACKAGE = "instructpart_ros"


def node_launch_description(executable: str, config_name: str, parameters: Sequence[ParameterSpec],
                            topic_arguments: Mapping[str, str], node: str):
    """A LaunchDescription starting ``executable`` with ``config/<config_name>``.

    Arguments: ``config_file``, ``node_name``, ``namespace``; one per ``topic_arguments``
    entry (argument name -> the node's relative topic it remaps); one per parameter,
    empty by default (an empty argument keeps the file's value, any other is converted
    to the parameter's type and overrides it).
    """
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    def launch_node(context):
        def argument(name):
            return LaunchConfiguration(name).perform(context)

        overrides = {spec.name: parameter_from_text(spec.name, argument(spec.name), parameters, node)
                     for spec in parameters if argument(spec.name) != ""}
        return [Node(package=PACKAGE, executable=executable, name=argument("node_name"),
                     namespace=argument("namespace"), parameters=[argument("config_file"), overrides],
                     remappings=[(topic, argument(name)) for name, topic in topic_arguments.items()],
                     output="screen")]

    default_config = os.path.join(get_package_share_directory(PACKAGE), "config", config_name)
    arguments = [
        DeclareLaunchArgument("config_file", default_value=default_config,
                              description="YAML file with the node's parameters"),
        DeclareLaunchArgument("node_name", default_value=executable, description="name of the node"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
    ]
    arguments += [DeclareLaunchArgument(name, default_value=topic,
                                        description=f"topic read as the node's '{topic}' input")
                  for name, topic in topic_arguments.items()]
    arguments += [DeclareLaunchArgument(
        spec.name, default_value="",
        description=f"{spec.description} (empty keeps config_file's value; package default {spec.default!r})")
        for spec in parameters]
    return LaunchDescription(arguments + [OpaqueFunction(function=launch_node)])
