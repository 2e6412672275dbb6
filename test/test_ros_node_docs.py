"""docs/perception_node.md lists every parameter with its default, and every topic and service."""
import pathlib
import re

from instructpart_ros.ros import node_health as kinds
from instructpart_ros.ros import topics
from instructpart_ros.ros.node_parameters import PARAMETERS

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "perception_node.md"


def section(title):
    text = DOC.read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def shown(default):
    if isinstance(default, bool):
        return str(default).lower()
    return '""' if default == "" else str(default)


def test_every_parameter_is_documented_with_its_default():
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section("Parameters"), flags=re.MULTILINE)
    assert rows == [(spec.name, shown(spec.default)) for spec in PARAMETERS]


def test_every_topic_and_the_service_is_documented():
    names = re.findall(r"^\| `([\w/]+)` \|", section("Topics and services"), flags=re.MULTILINE)
    expected = [topics.COLOR_IMAGE, topics.DEPTH_IMAGE, topics.CAMERA_INFO, topics.INSTRUCTION,
                topics.PART_SEGMENTATION, topics.PART_MASK, topics.PART_POINTS, topics.MARKERS, topics.OVERLAY,
                topics.PART_SEGMAP, topics.DIAGNOSTICS, topics.SEGMENT_PART]
    assert names == expected


def test_every_bad_input_kind_is_documented():
    first_columns = re.findall(r"^\| (`\w+`(?:, `\w+`)*) \|", section("Bad input never stops the node"),
                               flags=re.MULTILINE)
    documented = [kind for column in first_columns for kind in re.findall(r"`(\w+)`", column)]
    assert documented == list(kinds.BAD_INPUT_KINDS)
