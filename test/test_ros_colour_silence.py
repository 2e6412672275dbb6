"""ColourSilence: camera info without colour is reported after the timeout, with the fix for big frames."""
import pytest

from instructpart_ros.ros.colour_silence import ColourSilence

TOPICS = ("/color/image", "/color/camera_info")


def info_only(silence, seconds, size, start=0.0):
    for tick in range(int(seconds * 10) + 1):
        silence.camera_info(start + tick / 10, *size)
    return start + seconds


def test_big_frames_under_best_effort_get_the_transport_fix():
    silence = ColourSilence(timeout_s=2.0)
    now = info_only(silence, 1.9, (4000, 3000))
    assert silence.reason(now, *TOPICS, "best_effort") == ""  # not yet: the timeout has not passed
    now = info_only(silence, 0.2, (4000, 3000), start=now)
    assert silence.reason(now, *TOPICS, "best_effort") == (
        "camera info arrives on '/color/camera_info' (4000x3000 images) but no colour image on '/color/image' for "
        "2.1 s: frames of 36 MB are lost whole under best_effort when the shared-memory segment is smaller (about "
        "2 MB with LARGE_DATA): set FASTDDS_BUILTIN_TRANSPORTS='LARGE_DATA?sockets_size=64MB' in every process, "
        "camera driver included (see docs/perception_node.md, Big frames), or input_reliability:=reliable for a "
        "reliable driver")


@pytest.mark.parametrize("size, reliability", [((640, 480), "best_effort"), ((4000, 3000), "reliable")])
def test_small_frames_or_reliable_input_point_at_remapping_and_qos(size, reliability):
    silence = ColourSilence(timeout_s=1.0)
    now = info_only(silence, 1.5, size)
    assert silence.reason(now, *TOPICS, reliability).endswith(
        f"for 1.5 s: check the colour topic's remapping and that its publisher's QoS matches "
        f"input_reliability={reliability}")


def test_colour_arriving_or_camera_info_silent_too_is_not_reported():
    silence = ColourSilence(timeout_s=1.0)
    now = info_only(silence, 3.0, (4000, 3000))
    silence.color(now)
    assert silence.reason(now + 0.5, *TOPICS, "best_effort") == ""  # colour came 0.5 s ago
    assert silence.reason(now + 1.2, *TOPICS, "best_effort") == ""  # camera info silent as well: nothing to say
    assert ColourSilence(1.0).reason(10.0, *TOPICS, "best_effort") == ""  # nothing received at all
