"""Grasp filter node parameters: one table, the YAML defaults, validation messages."""
import pathlib

import pytest
import yaml

from instructpart_ros.grasping import FilterConfig
from instructpart_ros.ros.grasp_filter_parameters import GRASP_FILTER_PARAMETERS, GraspFilterNodeConfig

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "config" / "grasp_filter.yaml"


def test_yaml_lists_every_parameter_with_its_default_and_type():
    values = yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]
    assert list(values) == [spec.name for spec in GRASP_FILTER_PARAMETERS]
    for spec in GRASP_FILTER_PARAMETERS:
        assert values[spec.name] == spec.default and type(values[spec.name]) is type(spec.default), spec.name
    assert all(len(spec.description) > 20 for spec in GRASP_FILTER_PARAMETERS)


def test_defaults_are_the_library_defaults_and_settings_reach_the_filter():
    assert GraspFilterNodeConfig.from_values({}).filter == FilterConfig()
    config = GraspFilterNodeConfig.from_values({"max_width": 0.085, "top_k": 0, "input_type": "pose_array"})
    assert (config.filter.max_width, config.filter.top_k, config.input_type) == (0.085, 0, "pose_array")


@pytest.mark.parametrize("values, message", [
    ({"input_type": "grasps"}, "parameter input_type='grasps' is not supported: use one of ['grasp_candidates', "
                               "'pose_array']"),
    ({"convention": "gpd"}, "parameter convention='gpd' is not supported: use one of ['graspnet', "
                            "'contact_graspnet', 'moveit']"),
    ({"max_width": "8cm"}, "parameter max_width='8cm' must be a number (default 0.08)"),
    ({"max_width": 0.0}, "parameter max_width=0.0 must be > 0"),
    ({"min_part_share": 1.5}, "parameter min_part_share=1.5 must be in [0, 1]"),
    ({"max_axis_deviation": 120.0}, "parameter max_axis_deviation=120.0 must be between 0 and 90 degrees"),
    ({"top_k": -1}, "parameter top_k=-1 must be >= 0"),
    ({"sync_queue_size": 0}, "parameter sync_queue_size=0 must be >= 1"),
    ({"depth_timeout": 0.0}, "parameter depth_timeout=0.0 must be > 0 seconds"),
    ({"gripper": "panda"}, "unknown grasp filter node parameters ['gripper']"),
])
def test_bad_values_are_named_with_the_fix(values, message):
    with pytest.raises(ValueError) as error:
        GraspFilterNodeConfig.from_values(values)
    assert str(error.value).startswith(message)


def test_a_bad_parameter_stops_the_node_with_the_reason(ros_domain):
    from instructpart_ros.ros.node_process import NodeProcess

    with NodeProcess({"max_width": -0.08}, module="grasp_filter_node", config_name="grasp_filter.yaml") as node:
        assert node.process.wait(60) == 2
        assert "bad parameter: parameter max_width=-0.08 must be > 0" in node.log_text()
