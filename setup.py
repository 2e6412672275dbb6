"""pip install . -- the library and the `instructpart` command, without ROS.

The ROS side (messages, nodes, launch files) is built by colcon from CMakeLists.txt.
"""
from setuptools import setup

setup()
