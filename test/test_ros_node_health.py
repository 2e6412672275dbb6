"""Bad-input counting, throttled logging and latency percentiles."""
import pytest

from instructpart_ros.ros.node_health import BAD_INPUT_KINDS, NodeHealth


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_each_kind_is_logged_once_then_throttled_with_a_count_of_what_was_suppressed():
    clock = FakeClock()
    health = NodeHealth(log_period_s=10.0, clock=clock)
    assert health.bad_input("color_image", "encoding 'yuv422'") == "bad input [color_image]: encoding 'yuv422'"
    assert health.bad_input("depth_image", "step") == "bad input [depth_image]: step"  # own kind, own log
    clock.now = 5.0
    assert health.bad_input("color_image", "again") is None
    assert health.bad_input("color_image", "again") is None
    clock.now = 10.0
    assert health.bad_input("color_image", "later") == (
        "bad input [color_image]: later (2 more of this kind in the last 10 s)")
    snapshot = health.snapshot()
    assert snapshot["bad_input.color_image"] == 4 and snapshot["bad_input.depth_image"] == 1
    assert all(f"bad_input.{kind}" in snapshot for kind in BAD_INPUT_KINDS)


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown bad input kind 'typo'"):
        NodeHealth().bad_input("typo", "x")


def test_latency_percentiles_over_a_sliding_window():
    health = NodeHealth(latency_window=100)
    for value in range(1000):  # only the last 100 (900..999) count
        health.record_latency("total", value)
    health.record_latency("model", 5.0)
    health.count("frames_received", 3)
    snapshot = health.snapshot()
    assert snapshot["total_ms_p50"] == pytest.approx(949.5)
    assert snapshot["total_ms_p99"] == pytest.approx(998.01)
    assert snapshot["model_ms_p90"] == 5.0
    assert snapshot["frames_received"] == 3
