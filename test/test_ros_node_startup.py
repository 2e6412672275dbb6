"""A node that cannot start stays up and says why: a bad parameter, then a model that does not load."""
from instructpart_ros.ros.node_process import NodeProcess, wait_until
from instructpart_ros.ros.perception_client import PerceptionClient
from instructpart_ros.srv import SegmentPart

ERROR = "2"  # diagnostic_msgs/DiagnosticStatus.ERROR
BAD_PARAMETER = ("configuration failed: parameter instruction_mode='always' is not supported: use one of "
                 "['sticky', 'once']")
INFINITE_SLOP = "configuration failed: sync slop must be a finite number of seconds >= 0, got inf"
NO_WEIGHTS = ("activation failed: the model did not load: ValueError: parameter model_checkpoint is empty: point it "
              "at the local LISA checkpoint directory, e.g. model_checkpoint:=/data/weights/PISA (no weights ship "
              "with the package)")


def test_a_failed_start_is_reported_on_diagnostics_the_log_and_the_service(ros_domain):
    with NodeProcess({"instruction_mode": "always", "model_kind": "lisa"}) as process, PerceptionClient() as client:
        diagnostics = wait_until(lambda: client.latest_diagnostics(), 30, process, "diagnostics")
        assert (diagnostics["level"], diagnostics["message"], diagnostics["error"]) == (
            ERROR, BAD_PARAMETER, BAD_PARAMETER)
        assert client.lifecycle_state() == "unconfigured"

        # A value only the synchroniser refuses fails configure the same clean way.
        assert client.set_parameters({"instruction_mode": "once", "sync_slop": float("inf")}) == []
        assert not client.change_state("configure")
        diagnostics = wait_until(lambda: (d := client.latest_diagnostics())["message"] == INFINITE_SLOP and d, 5,
                                 process, "the synchroniser's error on diagnostics")
        assert client.lifecycle_state() == "unconfigured"

        # Fixed by hand, as an operator would: configure succeeds, activation fails without weights.
        assert client.set_parameters({"sync_slop": 0.02}) == []
        assert client.change_state("configure") and not client.change_state("activate")
        assert client.lifecycle_state() == "inactive"
        diagnostics = wait_until(lambda: (d := client.latest_diagnostics())["message"] == NO_WEIGHTS and d, 5,
                                 process, "the activation error on diagnostics")
        assert (diagnostics["level"], diagnostics["model_state"]) == (ERROR, "failed to load")
        response = client.segment(SegmentPart.Request(instruction="cut the bread", use_latest_frame=True))
        assert (response.success, response.message) == (
            False, "the node is inactive (model failed to load): activate it (autostart:=true or a lifecycle manager)")
        assert process.alive()
        log = process.log_text()
        assert BAD_PARAMETER in log and NO_WEIGHTS in log
