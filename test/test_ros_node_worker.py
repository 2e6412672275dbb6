"""The latest-frame-wins inference thread."""
import threading

from instructpart_ros.ros.latest_worker import LatestWorker


def blocking_worker():
    """A worker whose items block until ``release`` is set; ``started`` is set when one begins."""
    release, started, processed = threading.Event(), threading.Event(), []

    def process(item):
        started.set()
        release.wait(5)
        processed.append(item)

    return LatestWorker(process, on_error=lambda error: None), release, started, processed


def test_a_slow_consumer_gets_the_newest_item_and_nothing_queues_up():
    worker, release, started, processed = blocking_worker()
    worker.submit(0)
    assert started.wait(5)
    replaced = [worker.submit(item) for item in range(1, 6)]  # while 0 is being processed
    assert replaced == [False, True, True, True, True]
    assert worker.dropped == 4 and worker.busy
    release.set()
    assert worker.wait_idle(5)
    assert processed == [0, 5]
    assert worker.stop(5)


def test_an_error_in_one_item_does_not_stop_the_thread():
    errors, processed = [], []

    def process(item):
        if item == "bad":
            raise RuntimeError("CUDA out of memory")
        processed.append(item)

    worker = LatestWorker(process, on_error=errors.append)
    worker.submit("bad")
    assert worker.wait_idle(5)
    worker.submit("good")
    assert worker.wait_idle(5)
    assert processed == ["good"] and [str(error) for error in errors] == ["CUDA out of memory"]
    assert worker.stop(5)


def test_stop_lets_the_current_item_finish_and_discards_the_waiting_one():
    worker, release, started, processed = blocking_worker()
    worker.submit("current")
    assert started.wait(5)
    worker.submit("waiting")
    stopper = threading.Thread(target=worker.stop, args=(5,))
    stopper.start()
    release.set()
    stopper.join(5)
    assert processed == ["current"]
    assert worker.submit("after stop") is False and not worker.busy
