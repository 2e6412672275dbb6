"""launch/perception.launch.py, checked statically: ``launch``/``launch_ros`` are not installable here.

The file is parsed, then run against small stand-ins of the launch classes that record
what it builds, so its arguments, parameters, remappings and executable can be compared
with config/perception.yaml, the node's inputs and the colcon install.
"""
import ast
import pathlib

import pytest

from instructpart_ros.ros import topics
from instructpart_ros.ros.node_parameters import PARAMETER_NAMES

from launch_fakes import (
    check_arguments_against_config,
    check_default_node,
    check_installed_executable,
    launch_node,
    load_launch_description,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "perception.launch.py"
CONFIG = ROOT / "config" / "perception.yaml"


@pytest.fixture()
def launch_description(monkeypatch):
    return load_launch_description(monkeypatch, LAUNCH_FILE)


def test_the_file_parses():
    ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_every_argument_is_described_and_maps_to_a_yaml_parameter_or_an_input_and_back(launch_description):
    arguments = check_arguments_against_config(launch_description, CONFIG, PARAMETER_NAMES,
                                               topics.INPUT_TOPIC_ARGUMENTS)
    inputs = {name: arguments[name]["default_value"] for name in topics.INPUT_TOPIC_ARGUMENTS}
    assert inputs == {"color_topic": "color/image", "depth_topic": "depth/image",
                      "camera_info_topic": "color/camera_info", "instruction_topic": "instruction"}


def test_defaults_start_the_installed_executable_with_the_installed_config(launch_description):
    check_default_node(launch_description, "perception_node", CONFIG, topics.INPUT_TOPIC_ARGUMENTS)


def test_arguments_become_typed_parameter_overrides_and_remappings(launch_description):
    node = launch_node(
        launch_description, color_topic="/camera/color/image_raw", sync_slop="0.05", publish_overlay="True",
        erode_px="0", model_checkpoint="/data/PISA", initial_instruction="pour some water",
    )
    assert node["parameters"][1] == {"model_checkpoint": "/data/PISA", "initial_instruction": "pour some water",
                                     "sync_slop": 0.05, "erode_px": 0, "publish_overlay": True}
    assert ("color/image", "/camera/color/image_raw") in node["remappings"]


def test_a_mistyped_argument_names_itself(launch_description):
    with pytest.raises(ValueError) as error:
        launch_node(launch_description, sync_slop="20ms")
    assert str(error.value) == "launch argument sync_slop:='20ms' must be a number"


def test_the_named_executable_is_installed_by_the_build():
    check_installed_executable("perception_node")
