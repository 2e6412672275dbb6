"""docs/grasping.md lists every grasp filter node parameter with its default, every topic, every bad input kind."""
import pathlib
import re

from instructpart_ros.ros import topics
from instructpart_ros.ros.grasp_filter_parameters import GRASP_FILTER_PARAMETERS
from instructpart_ros.ros.grasp_pipeline import BAD_INPUT_KINDS

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "grasping.md"


def section(title):
    text = DOC.read_text()
    start = text.index(f"### {title}\n")
    end = text.find("\n### ", start + 1)
    return text[start:end]


def shown(default):
    return str(default).lower() if isinstance(default, bool) else str(default)


def test_every_parameter_is_documented_with_its_default():
    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", section("Parameters"), flags=re.MULTILINE)
    assert rows == [(spec.name, shown(spec.default)) for spec in GRASP_FILTER_PARAMETERS]


def test_every_topic_and_the_service_is_documented():
    names = re.findall(r"^\| `([\w/]+)` \|", section("Topics and services"), flags=re.MULTILINE)
    assert names == [topics.PART_SEGMENTATION, topics.DEPTH_IMAGE, topics.CAMERA_INFO, topics.GRASP_CANDIDATES,
                     topics.FILTERED_GRASPS, topics.GRASP_MARKERS, topics.DIAGNOSTICS, topics.FILTER_GRASPS]


def test_every_bad_input_kind_is_documented():
    kinds = re.findall(r"^\| `(\w+)` \|", section("Bad input never stops the node"), flags=re.MULTILINE)
    assert kinds == list(BAD_INPUT_KINDS)
