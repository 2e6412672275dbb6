"""Start the instructpart_ros perception node.

    ros2 launch instructpart_ros perception.launch.py \
        color_topic:=/camera/color/image_raw \
        depth_topic:=/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/color/camera_info \
        model_checkpoint:=/data/weights/PISA model_dinov2:=/data/weights/dinov2-large

Parameters come from ``config_file`` (the package's config/perception.yaml by default);
every parameter is also an argument here, and an argument left empty keeps the file's
value. ``ros2 launch instructpart_ros perception.launch.py --show-args`` lists them all.
"""
from instructpart_ros.ros.launch_files import node_launch_description
from instructpart_ros.ros.node_parameters import PARAMETERS
from instructpart_ros.ros.topics import INPUT_TOPIC_ARGUMENTS


def generate_launch_description():
    return node_launch_description("perception_node", "perception.yaml", PARAMETERS, INPUT_TOPIC_ARGUMENTS,
                                   "perception node")
