"""keep_freed_memory: large buffers freed by one frame are reused by the next, without page faults."""
import json
import subprocess
import sys

CHILD = """
import json, resource
import numpy as np
from instructpart_ros.ros.allocator import keep_freed_memory

def page_faults_of_frames():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):  # one frame: a 12 MB depth-sized buffer and a 4 MB one, then freed
        depth = np.ones(1_500_000)
        points = depth[::3] * 2.0
        del depth, points
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

default = page_faults_of_frames()
changed = keep_freed_memory()
page_faults_of_frames()  # the first round after the change fills the heap
print(json.dumps({"default": default, "changed": changed, "kept": page_faults_of_frames()}))
"""


def test_freed_buffers_are_reused_without_page_faults():
    # In a child: the allocator setting is process-wide.
    output = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    faults = json.loads(output)
    assert faults["changed"] is True
    assert faults["default"] > 100, faults  # glibc returns each 12 MB block to the kernel
    assert faults["kept"] < faults["default"] / 20, faults
