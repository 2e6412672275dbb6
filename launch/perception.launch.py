"""Start the instructpart_ros perception node.

    ros2 launch instructpart_ros perception.launch.py \
        color_topic:=/camera/color/image_raw \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info \
        model_checkpoint:=/data/weights/PISA model_dinov2:=/data/weights/dinov2-large

Parameters come from ``config_file`` (the package's config/perception.yaml by default);
every parameter is also an argument here, and an argument left empty keeps the file's
value. ``ros2 launch instructpart_ros perception.launch.py --show-args`` lists them all.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from instructpart_ros.ros.node_parameters import PARAMETERS, parameter_from_text
from instructpart_ros.ros.topics import INPUT_TOPIC_ARGUMENTS

PACKAGE = "instructpart_ros"
EXECUTABLE = "perception_node"


def _perception_node(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    overrides = {
        spec.name: parameter_from_text(spec.name, argument(spec.name))
        for spec in PARAMETERS
        if argument(spec.name) != ""
    }
    return [
        Node(
            package=PACKAGE,
            executable=EXECUTABLE,
            name=argument("node_name"),
            namespace=argument("namespace"),
            parameters=[argument("config_file"), overrides],
            remappings=[(topic, argument(name)) for name, topic in INPUT_TOPIC_ARGUMENTS.items()],
            output="screen",
        )
    ]


def generate_launch_description():
    default_config = os.path.join(get_package_share_directory(PACKAGE), "config", "perception.yaml")
    arguments = [
        DeclareLaunchArgument("config_file", default_value=default_config,
                              description="YAML file with the node's parameters"),
        DeclareLaunchArgument("node_name", default_value=EXECUTABLE, description="name of the node"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of the node and its topics"),
    ]
    arguments += [
        DeclareLaunchArgument(name, default_value=topic, description=f"topic read as the node's '{topic}' input")
        for name, topic in INPUT_TOPIC_ARGUMENTS.items()
    ]
    arguments += [
        DeclareLaunchArgument(
            spec.name, default_value="",
            description=f"{spec.description} (empty keeps config_file's value; package default {spec.default!r})",
        )
        for spec in PARAMETERS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_perception_node)])
