"""Replay evaluation: a perception node, and replay_eval_node playing a dataset or a recording to it.

    ros2 launch instructpart_ros replay_eval.launch.py source:=instructpart dataset:=/data/InstructPart \
        out:=/tmp/replay model_checkpoint:=/data/weights/PISA \
        model_vision_tower:=/data/weights/clip-vit-large-patch14 model_dinov2:=/data/weights/dinov2-large
    ros2 launch instructpart_ros replay_eval.launch.py source:=bag dataset:=/data/bags/table1 \
        annotations:=/data/bags/table1.yaml timing:=realtime model_checkpoint:=...

The launch ends when the replay has written its report (OUT/metrics.md). Replay parameters
come from ``replay_config_file`` (config/replay_eval.yaml), the perception node's from
``perception_config_file`` (config/perception.yaml); every replay parameter and the model
parameters are also arguments here, and an argument left empty keeps the file's value.
``model_mode`` empty means the source's default: teacher_forced for InstructPart (the
paper's protocol), generate for task sets and recordings. The perception node runs with
sticky instructions, reliable inputs and the replay's sync_slop.
``ros2 launch instructpart_ros replay_eval.launch.py --show-args`` lists the arguments.
"""
import os

import yaml
from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, RegisterEventHandler, Shutdown
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from instructpart_ros.evaluation.replay_config import default_mode
from instructpart_ros.ros.node_parameters import PARAMETERS, parameter_from_text, value_from_text
from instructpart_ros.ros.replay_parameters import REPLAY_PARAMETERS

PACKAGE = "instructpart_ros"
MODEL_PARAMETERS = ("model_kind", "model_checkpoint", "model_vision_tower", "model_dinov2", "model_device",
                    "model_dtype", "model_mode")


def _file_value(path, name):
    """A parameter's value in a ``/**: ros__parameters:`` file (None when absent)."""
    with open(path) as file:
        document = yaml.safe_load(file) or {}
    for section in document.values():
        parameters = (section or {}).get("ros__parameters", {})
        if name in parameters:
            return parameters[name]
    return None


def _nodes(context):
    def argument(name):
        return LaunchConfiguration(name).perform(context)

    replay = {spec.name: value_from_text(spec, argument(spec.name))
              for spec in REPLAY_PARAMETERS if argument(spec.name) != ""}

    def replay_value(name):
        if name in replay:
            return replay[name]
        value = _file_value(argument("replay_config_file"), name)
        return value if value is not None else next(s.default for s in REPLAY_PARAMETERS if s.name == name)

    perception = {name: parameter_from_text(name, argument(name))
                  for name in MODEL_PARAMETERS if argument(name) != ""}
    perception.setdefault("model_mode", default_mode(replay_value("source")))
    perception.update(instruction_mode="sticky", input_reliability="reliable",
                      sync_slop=float(replay_value("sync_slop")))
    namespace = argument("namespace")
    perception_node = Node(package=PACKAGE, executable="perception_node", name=replay_value("perception_node"),
                           namespace=namespace, parameters=[argument("perception_config_file"), perception],
                           output="screen")
    replay_node = Node(package=PACKAGE, executable="replay_eval_node", name="replay_eval_node", namespace=namespace,
                       parameters=[argument("replay_config_file"), replay], output="screen")
    finished = RegisterEventHandler(OnProcessExit(target_action=replay_node,
                                                  on_exit=[Shutdown(reason="the replay evaluation finished")]))
    return [perception_node, replay_node, finished]


def generate_launch_description():
    share = get_package_share_directory(PACKAGE)
    arguments = [
        DeclareLaunchArgument("replay_config_file", default_value=os.path.join(share, "config", "replay_eval.yaml"),
                              description="YAML file with replay_eval_node's parameters"),
        DeclareLaunchArgument("perception_config_file", default_value=os.path.join(share, "config", "perception.yaml"),
                              description="YAML file with the perception node's parameters"),
        DeclareLaunchArgument("namespace", default_value="", description="namespace of both nodes and their topics"),
    ]
    arguments += [
        DeclareLaunchArgument(spec.name, default_value="",
                              description=f"{spec.description} (empty keeps replay_config_file's value; package "
                                          f"default {spec.default!r})")
        for spec in REPLAY_PARAMETERS
    ]
    model_specs = {spec.name: spec for spec in PARAMETERS}
    arguments += [
        DeclareLaunchArgument(name, default_value="",
                              description=f"perception node: {model_specs[name].description} (empty keeps "
                                          "perception_config_file's value" + (
                                              "; model_mode: the source's default" if name == "model_mode" else "")
                                          + ")")
        for name in MODEL_PARAMETERS
    ]
    return LaunchDescription(arguments + [OpaqueFunction(function=_nodes)])
