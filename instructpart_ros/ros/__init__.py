"""ROS 2 side of instructpart_ros: the only package that imports rclpy.

``perception_node`` (the lifecycle node, a thin adapter) is built from small parts:
``conversions`` (messages <-> numpy), ``frame_sync`` (colour/depth/camera info pairing),
``instruction_policy`` (sticky/once), ``latest_worker`` (inference off the executor,
latest frame wins), ``part_pipeline`` (decode -> model -> geometry -> message),
``node_health`` (counters, throttled bad-input logs) and ``node_parameters`` (every
parameter, validated). ``perception_client``, ``node_process`` and ``rgbd_frame`` drive a
node from outside (demo, benchmark, tests). See docs/perception_node.md.
"""
