"""Start the instructpart_ros grasp filter node.

    ros2 launch instructpart_ros grasp_filter.launch.py \
        grasp_candidates_topic:=/contact_graspnet/grasps \
        depth_topic:=/camera/camera/aligned_depth_to_color/image_raw \
        camera_info_topic:=/camera/camera/color/camera_info max_width:=0.085

Parameters come from ``config_file`` (the package's config/grasp_filter.yaml by default);
every parameter is also an argument here, and an argument left empty keeps the file's
value. ``ros2 launch instructpart_ros grasp_filter.launch.py --show-args`` lists them all.
"""
from instructpart_ros.ros.grasp_filter_parameters import GRASP_FILTER_PARAMETERS, NODE
from instructpart_ros.ros.launch_files import node_launch_description
from instructpart_ros.ros.topics import GRASP_FILTER_TOPIC_ARGUMENTS


def generate_launch_description():
    return node_launch_description("grasp_filter_node", "grasp_filter.yaml", GRASP_FILTER_PARAMETERS,
                                   GRASP_FILTER_TOPIC_ARGUMENTS, NODE)
