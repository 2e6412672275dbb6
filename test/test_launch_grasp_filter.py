"""launch/grasp_filter.launch.py and config/grasp_filter.yaml, checked statically like the perception node's."""
import ast
import pathlib

import pytest

from instructpart_ros.ros import topics
from instructpart_ros.ros.grasp_filter_parameters import GRASP_FILTER_PARAMETER_NAMES

from launch_fakes import (
    check_arguments_against_config,
    check_default_node,
    check_installed_executable,
    launch_node,
    load_launch_description,
)

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "grasp_filter.launch.py"
CONFIG = ROOT / "config" / "grasp_filter.yaml"


@pytest.fixture()
def launch_description(monkeypatch):
    return load_launch_description(monkeypatch, LAUNCH_FILE)


def test_the_file_parses():
    ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_every_argument_is_described_and_maps_to_a_yaml_parameter_or_an_input_and_back(launch_description):
    arguments = check_arguments_against_config(launch_description, CONFIG, GRASP_FILTER_PARAMETER_NAMES,
                                               topics.GRASP_FILTER_TOPIC_ARGUMENTS)
    assert {name: arguments[name]["default_value"] for name in topics.GRASP_FILTER_TOPIC_ARGUMENTS} == {
        "part_segmentation_topic": "part_segmentation", "depth_topic": "depth/image",
        "camera_info_topic": "color/camera_info", "grasp_candidates_topic": "grasp_candidates"}


def test_defaults_start_the_installed_executable_with_the_installed_config(launch_description):
    check_default_node(launch_description, "grasp_filter_node", CONFIG, topics.GRASP_FILTER_TOPIC_ARGUMENTS)


def test_arguments_become_typed_parameter_overrides_and_remappings(launch_description):
    node = launch_node(launch_description, grasp_candidates_topic="/contact_graspnet/grasps", max_width="0.085",
                       top_k="3", axis_term="true", input_type="pose_array")
    assert node["parameters"][1] == {"input_type": "pose_array", "max_width": 0.085, "axis_term": True, "top_k": 3}
    assert ("grasp_candidates", "/contact_graspnet/grasps") in node["remappings"]


def test_a_mistyped_argument_names_itself(launch_description):
    with pytest.raises(ValueError) as error:
        launch_node(launch_description, top_k="many")
    assert str(error.value) == "launch argument top_k:='many' must be an integer"


def test_the_named_executable_is_installed_by_the_build():
    check_installed_executable("grasp_filter_node")
