"""Node parameters: one table, the YAML defaults, and validation messages."""
import dataclasses
import pathlib

import pytest
import yaml

from instructpart_ros.geometry import PartFilter
from instructpart_ros.ros.node_parameters import PARAMETER_NAMES, PARAMETERS, NodeConfig

CONFIG = pathlib.Path(__file__).resolve().parents[1] / "config" / "perception.yaml"


def yaml_parameters():
    return yaml.safe_load(CONFIG.read_text())["/**"]["ros__parameters"]


def test_yaml_lists_every_parameter_with_its_default_and_nothing_else():
    values = yaml_parameters()
    assert list(values) == list(PARAMETER_NAMES)
    for spec in PARAMETERS:
        assert values[spec.name] == spec.default and type(values[spec.name]) is type(spec.default), spec.name


def test_config_fields_are_the_parameters_and_each_has_a_description():
    assert tuple(field.name for field in dataclasses.fields(NodeConfig)) == PARAMETER_NAMES
    assert all(len(spec.description) > 20 for spec in PARAMETERS)


def test_defaults_give_the_geometry_library_defaults():
    assert NodeConfig.from_values({}).part_filter() == PartFilter()


def test_integers_are_accepted_for_floats_and_converted():
    config = NodeConfig.from_values({"sync_slop": 1, "max_depth": 3})
    assert config.sync_slop == 1.0 and type(config.sync_slop) is float
    assert config.part_filter().max_depth == 3.0


@pytest.mark.parametrize(
    "values, message",
    [
        ({"instruction_mode": "always"}, "parameter instruction_mode='always' is not supported: use one of ['sticky', 'once']"),
        ({"sync_slop": "fast"}, "parameter sync_slop='fast' must be a number (default 0.02): largest stamp difference "
                                "(s) between colour, depth and camera info"),
        ({"reason_every_n": 2.5}, "parameter reason_every_n=2.5 must be an integer (default 10)"),
        ({"autostart": 1}, "parameter autostart=1 must be true or false (default True)"),
        ({"sync_queue_size": 0}, "parameter sync_queue_size=0 must be >= 1"),
        ({"depth_timeout": 0.0}, "parameter depth_timeout=0.0 must be > 0 seconds"),
        ({"min_depth": 2.0, "max_depth": 1.0}, "invalid part filter parameters: PartFilter depth range is empty: "
                                               "min_depth=2.0, max_depth=1.0"),
        ({"colour_topic": "x"}, "unknown perception node parameters ['colour_topic']"),
        ({"model_max_new_tokens": 0}, "parameter model_max_new_tokens=0 must be >= 1"),
        ({"model_stop_at_seg": "yes"}, "parameter model_stop_at_seg='yes' must be true or false (default True)"),
    ],
)
def test_bad_values_are_named_with_the_fix(values, message):
    with pytest.raises(ValueError) as error:
        NodeConfig.from_values(values)
    assert str(error.value).startswith(message)


def test_model_checkpoint_must_be_given_and_empty_paths_defer_to_the_checkpoint():
    with pytest.raises(ValueError) as error:
        NodeConfig.from_values({"model_kind": "lisa"}).model_arguments()
    assert str(error.value).startswith(
        "parameter model_checkpoint is empty: point it at the local LISA checkpoint directory")
    lisa = NodeConfig.from_values({"model_kind": "lisa", "model_checkpoint": "/w/lisa", "model_vision_tower": "/w/clip",
                                   "model_device": "cpu", "model_dtype": "float32"})
    assert lisa.model_arguments() == dict(kind="lisa", checkpoint="/w/lisa", vision_tower="/w/clip", dinov2=None,
                                          device="cpu", dtype="float32", stop_at_seg=True, max_new_tokens=64)


def test_decoding_options_are_passed_to_the_segmenter():
    config = NodeConfig.from_values({"model_checkpoint": "/w/pisa", "model_stop_at_seg": False,
                                     "model_max_new_tokens": 3})
    arguments = config.model_arguments()
    assert (arguments["stop_at_seg"], arguments["max_new_tokens"]) == (False, 3)
