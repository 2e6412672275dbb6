"""Start and stop a node of the package (the perception node by default) in its own process (demo,
benchmark, integration tests)."""
from __future__ import annotations

import pathlib
import signal
import subprocess
import sys
import tempfile
import time
from typing import Dict, Mapping, Optional

import yaml

from instructpart_ros.package_files import find_share_file

PACKAGE = "instructpart_ros"
CONFIG_NAME = "perception.yaml"


def find_config(name: str = CONFIG_NAME) -> pathlib.Path:
    """The package's ``config/<name>``: from the source tree, else from an installed share directory."""
    return find_share_file("config", name)


def perception_node_command(
    parameters_file: pathlib.Path,
    remappings: Mapping[str, str] = (),
    python_prelude: Optional[str] = None,
    module: str = "perception_node",
    config_name: str = CONFIG_NAME,
) -> list:
    """The command line of a node (``instructpart_ros.ros.<module>``, the perception node by default)
    with its ``config/<config_name>``, ``--params-file`` and ``-r from:=to`` arguments.

    ``python_prelude`` is Python run in the node's process before it starts (tests use it
    to slow the model down).
    """
    if python_prelude is None:
        command = [sys.executable, "-m", f"{PACKAGE}.ros.{module}"]
    else:
        command = [sys.executable, "-c", f"{python_prelude}\nfrom {PACKAGE}.ros.{module} import main\nmain()"]
    command += ["--ros-args", "--params-file", str(find_config(config_name)), "--params-file", str(parameters_file)]
    for source, target in dict(remappings).items():
        command += ["-r", f"{source}:={target}"]
    return command


def write_parameters(parameters: Mapping[str, object], directory: pathlib.Path) -> pathlib.Path:
    """Parameter overrides as a ROS params file (YAML keeps their types exact, unlike ``-p``)."""
    path = pathlib.Path(directory) / "perception_overrides.yaml"
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": dict(parameters)}}))
    return path


def tiny_model_parameters(directory: pathlib.Path) -> Dict[str, str]:
    """Write a tiny random PISA model to ``directory``; the node parameters that load it."""
    from instructpart_ros.model.tiny import write_tiny_checkpoints  # torch: only when a tiny model is wanted

    paths = write_tiny_checkpoints(pathlib.Path(directory), kind="pisa", seed=0)
    return dict(model_kind="pisa", model_checkpoint=str(paths["checkpoint"]),
                model_vision_tower=str(paths["vision_tower"]), model_dinov2=str(paths["dinov2"]))


class NodeProcess:
    """A node subprocess (the perception node unless ``module`` names another); stop it with SIGINT,
    then SIGKILL after a timeout."""

    def __init__(
        self,
        parameters: Mapping[str, object],
        remappings: Mapping[str, str] = (),
        env: Optional[Dict[str, str]] = None,
        log_path: Optional[pathlib.Path] = None,
        python_prelude: Optional[str] = None,
        module: str = "perception_node",
        config_name: str = CONFIG_NAME,
    ) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix=f"{module}_")
        parameters_file = write_parameters(parameters, pathlib.Path(self._workdir.name))
        self.command = perception_node_command(parameters_file, remappings, python_prelude, module, config_name)
        self.log_path = pathlib.Path(log_path or pathlib.Path(self._workdir.name) / "node.log")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=env, cwd=self._workdir.name)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def rss_bytes(self) -> int:
        """Resident memory of the node process (Linux)."""
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"no VmRSS for process {self.pid}")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGINT (a clean rclpy shutdown), SIGKILL if it is still running after ``timeout`` s."""
        if self.alive():
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        self._log.close()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self._workdir.cleanup()

    def __enter__(self) -> "NodeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def wait_until(condition, timeout: float, node: Optional[NodeProcess] = None, what: str = "condition",
               period: float = 0.05):
    """Poll ``condition()`` until it returns something truthy; fail early if ``node`` died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if node is not None and not node.alive():
            raise RuntimeError(f"the node process exited (code {node.process.returncode}) while waiting for "
                               f"{what}; its log:\n{node.log_text()[-4000:]}")
        time.sleep(period)
    tail = f"; node log:\n{node.log_text()[-4000:]}" if node is not None else ""
    raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}{tail}")

