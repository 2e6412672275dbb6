"""Readers for what the replay evaluation plays: RGB-D frames on disk, table-top task
sets (YAML manifests), rosbag2 / ROS 1 recordings (via ``rosbags``), and the MCAP it
writes back. numpy, OpenCV, PyYAML and rosbags only: no torch, no rclpy.
See docs/replay_evaluation.md.
"""
