"""launch/replay_eval.launch.py, checked statically as test_launch_perception.py does (``launch`` and
``launch_ros`` are not installable here): its arguments, the two nodes it builds, their parameters,
and the shutdown once the replay has finished."""
import ast
import importlib.util
import os
import pathlib
import sys
import types

import pytest
import yaml

from instructpart_ros.ros.replay_parameters import REPLAY_PARAMETER_NAMES, replay_values
from launch_fakes import Recorded, declared_arguments, fake_launch_modules

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAUNCH_FILE = ROOT / "launch" / "replay_eval.launch.py"
MODEL = ["model_kind", "model_checkpoint", "model_vision_tower", "model_dinov2", "model_device", "model_dtype",
         "model_mode"]


@pytest.fixture()
def launch_description(monkeypatch):
    modules = fake_launch_modules()
    modules["launch.actions"].RegisterEventHandler = type("RegisterEventHandler", (Recorded,), {})
    modules["launch.actions"].Shutdown = type("Shutdown", (Recorded,), {})
    modules["launch.event_handlers"] = types.ModuleType("launch.event_handlers")
    modules["launch.event_handlers"].OnProcessExit = type("OnProcessExit", (Recorded,), {})
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("replay_eval_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def launch(description, **overrides):
    """The launch file's actions with default arguments plus ``overrides``: (perception, replay, handler)."""
    configurations = {name: kwargs["default_value"] for name, kwargs in declared_arguments(description).items()}
    configurations.update(overrides)
    context = types.SimpleNamespace(launch_configurations=configurations)
    (opaque,) = [action for action in description.args[0] if type(action).__name__ == "OpaqueFunction"]
    return opaque.kwargs["function"](context)


def test_the_file_parses():
    ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))


def test_every_replay_parameter_and_the_model_are_described_arguments(launch_description):
    arguments = declared_arguments(launch_description)
    yaml_names = list(yaml.safe_load((ROOT / "config" / "replay_eval.yaml").read_text())["/**"]["ros__parameters"])
    assert list(arguments) == ["replay_config_file", "perception_config_file", "namespace",
                               *REPLAY_PARAMETER_NAMES, *MODEL]
    assert yaml_names == list(REPLAY_PARAMETER_NAMES)
    assert all(len(kwargs["description"]) > 20 for kwargs in arguments.values())
    assert {arguments[name]["default_value"] for name in [*REPLAY_PARAMETER_NAMES, *MODEL]} == {""}


def test_the_yaml_holds_the_package_defaults():
    values = yaml.safe_load((ROOT / "config" / "replay_eval.yaml").read_text())["/**"]["ros__parameters"]
    assert replay_values(values) == replay_values({})


def test_defaults_start_both_nodes_and_stop_when_the_replay_ends(launch_description):
    perception, replay, handler = launch(launch_description)
    assert (perception.kwargs["executable"], perception.kwargs["name"]) == ("perception_node", "perception_node")
    assert (replay.kwargs["executable"], replay.kwargs["name"]) == ("replay_eval_node", "replay_eval_node")
    perception_file, perception_overrides = perception.kwargs["parameters"]
    assert pathlib.Path(perception_file).read_text() == (ROOT / "config" / "perception.yaml").read_text()
    assert perception_overrides == {"model_mode": "teacher_forced", "instruction_mode": "sticky",
                                    "input_reliability": "reliable", "sync_slop": 0.05}
    replay_file, replay_overrides = replay.kwargs["parameters"]
    assert pathlib.Path(replay_file).read_text() == (ROOT / "config" / "replay_eval.yaml").read_text()
    assert replay_overrides == {}
    (on_exit,) = handler.args
    assert on_exit.kwargs["target_action"] is replay
    assert type(on_exit.kwargs["on_exit"][0]).__name__ == "Shutdown"


def test_arguments_become_typed_overrides_and_the_mode_follows_the_source(launch_description):
    perception, replay, _ = launch(launch_description, source="bag", dataset="/data/run1.mcap", timing="realtime",
                                   rate="0.5", sync_slop="0.03", write_bag="false", model_checkpoint="/data/PISA",
                                   perception_node="eye", namespace="robot")
    assert replay.kwargs["parameters"][1] == {"source": "bag", "dataset": "/data/run1.mcap", "timing": "realtime",
                                              "rate": 0.5, "sync_slop": 0.03, "perception_node": "eye",
                                              "write_bag": False}
    assert perception.kwargs["parameters"][1] == {"model_checkpoint": "/data/PISA", "model_mode": "generate",
                                                  "instruction_mode": "sticky", "input_reliability": "reliable",
                                                  "sync_slop": 0.03}
    assert (perception.kwargs["name"], perception.kwargs["namespace"], replay.kwargs["namespace"]) == (
        "eye", "robot", "robot")
    perception, _, _ = launch(launch_description, model_mode="generate")
    assert perception.kwargs["parameters"][1]["model_mode"] == "generate"  # the robot's mode is one argument away


def test_a_mistyped_argument_names_itself(launch_description):
    with pytest.raises(ValueError) as error:
        launch(launch_description, retries="two")
    assert str(error.value) == "launch argument retries:='two' must be an integer"


def test_the_replay_executable_is_installed_by_the_build():
    from ament_index_python.packages import get_package_prefix

    executable = pathlib.Path(get_package_prefix("instructpart_ros")) / "lib" / "instructpart_ros" / "replay_eval_node"
    assert executable.is_file() and os.access(executable, os.X_OK)
    assert "from instructpart_ros.ros.replay_eval_node import main" in executable.read_text()
    share = pathlib.Path(get_package_prefix("instructpart_ros")) / "share" / "instructpart_ros"
    assert (share / "launch" / "replay_eval.launch.py").is_file()
    assert (share / "config" / "tasksets" / "shapegrasp_knife.yaml").is_file()


def doc_section(title):
    text = (ROOT / "docs" / "replay_evaluation.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end]


def test_every_replay_parameter_is_documented_with_its_default():
    import re

    from instructpart_ros.ros.replay_parameters import REPLAY_PARAMETERS

    def shown(default):
        return str(default).lower() if isinstance(default, bool) else ('""' if default == "" else str(default))

    rows = re.findall(r"^\| `(\w+)` \| `([^`]*)` \|", doc_section("Parameters"), flags=re.MULTILINE)
    assert rows == [(spec.name, shown(spec.default)) for spec in REPLAY_PARAMETERS]


def test_the_documented_coverage_is_the_shipped_task_sets(data_root, monkeypatch):
    import re

    from instructpart_ros.datasets.tasksets import load_taskset
    from instructpart_ros.evaluation.replay_config import taskset_path

    monkeypatch.setenv("INSTRUCTPART_DATA", str(data_root))
    coverage = load_taskset(taskset_path("shapegrasp_knife")).coverage()
    rows = re.findall(r"^\| (\w+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|$",
                      doc_section("Task sets"), flags=re.MULTILINE)
    rows = [tuple(cell.strip() for cell in row) for row in rows if row[0] != "scene"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [(c["scene"], c["task"], c["object"], c["part"])
                                                       for c in coverage]
    assert [r[1] for r in rows if r[4] == "`shapegrasp_knife`"] == [c["task"] for c in coverage if c["covered_by"]]
    synthetic = [r[1] for r in rows if r[5] == "`synth_tabletop`"]
    assert synthetic == ["pick up the mug", "pick up the screwdriver", "cut the bread", "cut the steak"]
