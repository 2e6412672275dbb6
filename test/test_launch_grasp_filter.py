"""launch/grasp_filter.launch.py and config/grasp_filter.yaml, checked statically like the perception node's."""
import ast
import os
import pathlib

import pytest
import yaml

from instructpart_ros.ros import topics
from instructpart_ros.ros.grasp_filter_parameters import GRASP_FILTER_PARAMETER_NAMES

from launch_fakes import declared_arguments, launch_node, load_launch_description

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "grasp_filter.launch.py"
CONFIG = ROOT / "config" / "grasp_filter.yaml"


@pytest.fixture()
def launch_description(monkeypatch):
    return load_launch_description(monkeypatch, LAUNCH_FILE)


def test_the_file_parses():
    ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_every_argument_is_described_and_maps_to_a_yaml_parameter_or_an_input_and_back(launch_description):
    arguments = declared_arguments(launch_description)
    yaml_names = list(yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"])
    general = {"config_file", "node_name", "namespace"}
    inputs = set(topics.GRASP_FILTER_TOPIC_ARGUMENTS)
    parameter_arguments = [name for name in arguments if name not in general | inputs]
    assert parameter_arguments == yaml_names == list(GRASP_FILTER_PARAMETER_NAMES)
    assert {arguments[name]["default_value"] for name in parameter_arguments} == {""}
    assert all(len(kwargs["description"]) > 15 for kwargs in arguments.values())
    assert {name: arguments[name]["default_value"] for name in inputs} == {
        "part_segmentation_topic": "part_segmentation", "depth_topic": "depth/image",
        "camera_info_topic": "color/camera_info", "grasp_candidates_topic": "grasp_candidates"}


def test_defaults_start_the_installed_executable_with_the_installed_config(launch_description):
    node = launch_node(launch_description)
    assert (node["package"], node["executable"], node["name"], node["namespace"]) == (
        "instructpart_ros", "grasp_filter_node", "grasp_filter_node", "")
    config_file, overrides = node["parameters"]
    assert overrides == {}
    installed = pathlib.Path(config_file)
    assert installed.parts[-3:] == ("instructpart_ros", "config", "grasp_filter.yaml")
    assert installed.read_text() == CONFIG.read_text()
    assert node["remappings"] == [(topic, topic) for topic in topics.GRASP_FILTER_TOPIC_ARGUMENTS.values()]


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
    from ament_index_python.packages import get_package_prefix

    executable = pathlib.Path(get_package_prefix("instructpart_ros")) / "lib" / "instructpart_ros" / "grasp_filter_node"
    assert executable.is_file() and os.access(executable, os.X_OK)
    assert "from instructpart_ros.ros.grasp_filter_node import main" in executable.read_text()
