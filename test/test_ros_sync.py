"""The colour/depth/camera-info synchroniser (pure Python: stamps in ns, explicit clock)."""
import pytest

from instructpart_ros.ros.frame_sync import CAMERA_INFO, DEPTH, FrameSynchronizer

MS = 1_000_000


def make_sync(slop_s=0.01, queue_size=5, absent_after_s=1.0, absent_grace_s=0.0):
    return FrameSynchronizer(slop_s, queue_size, absent_after_s, clock=lambda: pytest.fail("explicit now expected"),
                             absent_grace_s=absent_grace_s)


def test_exact_stamps_pair_once_whatever_the_arrival_order():
    sync = make_sync()
    assert sync.add_depth("d1", 100 * MS, now=0.0) is None
    assert sync.add_color("c1", 100 * MS, now=0.0) is None  # camera info still expected
    frame = sync.add_camera_info("i1", 100 * MS, now=0.01)
    assert (frame.color, frame.depth, frame.camera_info, frame.stamp_ns) == ("c1", "d1", "i1", 100 * MS)
    assert frame.absent == () and frame.received_at == 0.0
    assert sync.poll(now=0.02) is None  # a colour becomes a frame only once
    assert sync.dropped == 0


def test_nearest_within_slop_wins_and_beyond_slop_waits():
    sync = make_sync(slop_s=0.01)
    sync.add_depth("d_far", 80 * MS, now=0.0)
    sync.add_depth("d_near", 104 * MS, now=0.0)
    sync.add_camera_info("i_far", 111 * MS, now=0.0)  # 11 ms > 10 ms slop
    assert sync.add_color("c", 100 * MS, now=0.0) is None
    frame = sync.add_camera_info("i_near", 97 * MS, now=0.0)
    assert (frame.depth, frame.camera_info) == ("d_near", "i_near")


def test_newest_complete_colour_wins_and_older_waiting_colours_are_dropped():
    sync = make_sync()
    for index in range(3):
        sync.add_camera_info(f"i{index}", index * 100 * MS, now=0.0)
        assert sync.add_color(f"c{index}", index * 100 * MS, now=0.0) is None
    frame = sync.add_depth("d2", 200 * MS, now=0.0)
    assert frame.color == "c2"
    assert sync.dropped == 2  # c0 and c1 can no longer be the latest frame
    sync.add_depth("d1", 100 * MS, now=0.0)  # late depth for a colour already dropped
    assert sync.poll(now=0.0) is None


def test_depth_that_never_arrives_gives_2d_frames_after_the_timeout():
    sync = make_sync(absent_after_s=1.0)
    sync.add_camera_info("i", 0, now=0.0)
    assert sync.add_color("c0", 0, now=0.0) is None  # depth may still come
    assert sync.poll(now=0.5) is None
    frame = sync.poll(now=1.0)
    assert (frame.color, frame.depth, frame.camera_info, frame.absent) == ("c0", None, "i", (DEPTH,))
    assert sync.is_absent(DEPTH, now=1.0) and not sync.is_absent(CAMERA_INFO, now=0.5)


def test_depth_that_goes_silent_is_no_longer_waited_for_and_is_used_again_when_back():
    sync = make_sync(absent_after_s=1.0)
    sync.add_depth("d0", 0, now=0.0)
    sync.add_camera_info("i0", 0, now=0.0)
    assert sync.add_color("c0", 0, now=0.0).depth == "d0"
    sync.add_camera_info("i5", 5000 * MS, now=5.0)
    frame = sync.add_color("c5", 5000 * MS, now=5.0)  # depth silent for 5 s
    assert (frame.depth, frame.absent) == (None, (DEPTH,))
    sync.add_depth("d6", 6000 * MS, now=6.0)
    sync.add_camera_info("i6", 6000 * MS, now=6.0)
    frame = sync.add_color("c6", 6000 * MS, now=6.0)
    assert (frame.depth, frame.absent) == ("d6", ())


def test_a_silent_stream_is_still_given_a_grace_period_for_a_late_message():
    sync = make_sync(absent_after_s=1.0, absent_grace_s=0.05)
    sync.add_depth("d0", 0, now=0.0)
    sync.add_camera_info("i0", 0, now=0.0)
    sync.add_color("c0", 0, now=0.0)
    # Both streams silent for 5 s; the colour arrives first, its camera info 10 ms later.
    assert sync.add_color("c5", 5000 * MS, now=5.0) is None
    assert sync.add_camera_info("i5", 5000 * MS, now=5.01) is None  # depth may still be late too
    frame = sync.poll(now=5.06)
    assert (frame.camera_info, frame.depth, frame.absent) == ("i5", None, (DEPTH,))
    assert sync.add_color("c6", 6000 * MS, now=6.0) is None
    assert sync.poll(now=6.04) is None
    frame = sync.poll(now=6.06)  # nothing came within the grace period
    assert (frame.color, frame.camera_info, frame.absent) == ("c6", None, (DEPTH, CAMERA_INFO))


def test_full_queue_drops_the_oldest_colour_and_says_why():
    sync = make_sync(slop_s=0.005, queue_size=2)
    sync.add_depth("d", 0, now=0.0)
    sync.add_camera_info("i", 0, now=0.0)
    for index in range(1, 4):  # colours 30 ms after depth: never within 5 ms slop
        assert sync.add_color(f"c{index}", (30 + index) * MS, now=0.0) is None
    assert (sync.dropped, sync.unmatched) == (1, 1)
    assert sync.last_drop_reason == (
        "colour frame never synchronised: nearest depth stamp is 31.0 ms earlier, nearest camera_info stamp is "
        "31.0 ms earlier than the colour stamp (sync_slop is 5.0 ms; raise the sync_slop parameter or have the "
        "driver stamp depth and camera info like the colour image)"
    )
    for stamp in (3033, 3034):  # depth now 3 s after the colours (its queue holds two): still no match
        sync.add_depth("d", stamp * MS, now=0.0)
    sync.add_color("c4", 34 * MS, now=0.0)  # pushes out c2 (32 ms)
    assert sync.unmatched == 2 and "nearest depth stamp is 3001.0 ms later" in sync.last_drop_reason


@pytest.mark.parametrize(
    "args, message",
    [
        ((-0.1, 5, 1.0), "sync slop must be a finite number of seconds >= 0, got -0.1"),
        ((0.01, 0, 1.0), "sync queue size must be >= 1 message, got 0"),
        ((0.01, 5, 0.0), "depth timeout must be a finite number of seconds > 0, got 0.0"),
    ],
)
def test_bad_settings_are_rejected_with_the_value(args, message):
    with pytest.raises(ValueError) as error:
        FrameSynchronizer(*args)
    assert str(error.value) == message
