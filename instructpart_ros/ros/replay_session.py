"""One replay against a live perception node: wait for it, record what it runs, replay, report.

Shared by ``replay_eval_node`` and ``instructpart replay``; the replay itself is
``instructpart_ros.evaluation.replay_config.run_replay``.
"""
from __future__ import annotations

import time
from typing import Callable, Optional

from instructpart_ros.evaluation.replay_config import ReplayConfig, default_mode, run_replay

from .perception_client import PerceptionClient
from .replay_transport import ServiceTransport, TopicTransport

# perception node parameter -> provenance key in the report
PROVENANCE = {"model_kind": "kind", "model_checkpoint": "checkpoint", "model_vision_tower": "vision_tower",
              "model_dinov2": "dinov2", "model_device": "device", "model_dtype": "dtype", "model_mode": "mode",
              "model_stop_at_seg": "stop_at_seg", "model_max_new_tokens": "max_new_tokens",
              "instruction_mode": "instruction_mode", "reason_every_n": "reason_every_n", "sync_slop": "sync_slop"}
CONNECT_TIMEOUT_S = 20.0
DIAGNOSTICS_WAIT_S = 3.0  # the node publishes /diagnostics every diagnostics_period (1 s by default)


def wait_until_active(client: PerceptionClient, timeout: float,
                      node_failure: Optional[Callable[[], Optional[str]]] = None) -> None:
    """Return once the perception node is active; RuntimeError saying why not after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        failure = node_failure() if node_failure else None
        if failure:
            raise RuntimeError(failure)
        state = client.lifecycle_state(timeout=min(2.0, max(0.1, deadline - time.monotonic())))
        if state == "active":
            return
        error = client.latest_diagnostics().get("error")
        if error and state in ("unconfigured", "inactive"):  # a failed configure or model load: it stays so
            raise RuntimeError(f"the perception node /{client.node_name} is {state}: {error}")
        time.sleep(0.2)
    seen = f"it is {state}" if state else "it does not answer on /" + client.node_name + "/get_state"
    raise RuntimeError(f"the perception node /{client.node_name} did not become active within {timeout:g} s ({seen}): "
                       "start it (ros2 launch instructpart_ros perception.launch.py) with a loadable model, or check "
                       "its log")


def node_provenance(client: PerceptionClient) -> dict:
    """What the node runs, from its parameters (model, mode, instruction handling), and the warning
    it reports on /diagnostics about its model (e.g. an untrained PISA), "" when none."""
    values = client.get_parameters(list(PROVENANCE))
    deadline = time.monotonic() + DIAGNOSTICS_WAIT_S
    while not client.latest_diagnostics() and time.monotonic() < deadline:
        time.sleep(0.05)
    warning = client.latest_diagnostics().get("model_warning", "")
    return {"node": "/" + client.node_name, **{key: values[name] for name, key in PROVENANCE.items()},
            "warning": warning}


def replay_with_node(config: ReplayConfig, client: PerceptionClient, topics: TopicTransport,
                     startup_timeout: float = 120.0,
                     node_failure: Optional[Callable[[], Optional[str]]] = None) -> dict:
    """Replay ``config`` through the node ``client`` talks to; ``topics`` must be the client's result callback."""
    config.check()
    wait_until_active(client, startup_timeout, node_failure)
    model = node_provenance(client)
    warnings = [model["warning"]] if model["warning"] else []
    if config.source == "instructpart" and model["mode"] != default_mode("instructpart"):
        warnings.append(f"the node runs model_mode {model['mode']}; the paper's InstructPart protocol (LISA's "
                        "validate()) is teacher_forced")
    if config.source == "bag":
        if model["instruction_mode"] != "sticky":
            raise ValueError(f"the perception node /{client.node_name} has instruction_mode "
                             f"{model['instruction_mode']}: replaying a recording needs sticky (a result per frame)")
        if model["sync_slop"] is not None and model["sync_slop"] < config.sync_slop:
            warnings.append(f"the node's sync_slop ({model['sync_slop']:g} s) is below the replay's "
                            f"({config.sync_slop:g} s): frames whose depth is further apart lose their depth there")
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while not client.connected() and time.monotonic() < deadline:
            time.sleep(0.05)
    topics.client = client
    samples = ServiceTransport(client, node_failure)
    return run_replay(config, model, samples=samples, stream=topics, warnings=warnings)


def summary_line(metrics: dict) -> str:
    """One line for the console: per variant gIoU and part selection, failures."""
    parts = []
    for name, section in metrics["variants"].items():
        selection = section.get("part_selection")
        text = f"{name}: n={section['n']}"
        if section.get("n"):
            text += f" gIoU {section['giou']:.2f} cIoU {section['ciou']:.2f}"
        if selection:
            text += f" part selection {selection['accuracy']:.1f}%"
        parts.append(text)
    statuses = ", ".join(f"{kind} {count}" for kind, count in metrics["statuses"].items())
    return f"{'; '.join(parts)} | statuses: {statuses} | failed {len(metrics['failed'])}, bad entries " \
           f"{len(metrics['bad_entries'])}"
