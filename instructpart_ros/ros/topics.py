"""Topic and service names of the perception and grasp filter nodes: short relative names, meant for remapping."""

# Inputs
COLOR_IMAGE = "color/image"
DEPTH_IMAGE = "depth/image"  # registered to the colour image
CAMERA_INFO = "color/camera_info"
INSTRUCTION = "instruction"

# Outputs
PART_SEGMENTATION = "part_segmentation"
PART_MASK = "part_mask"
PART_POINTS = "part_points"
MARKERS = "markers"
OVERLAY = "debug/overlay"
PART_SEGMAP = "part_segmap"  # mono16 0/1: Contact-GraspNet's segmentation input (publish_segmap)
DIAGNOSTICS = "/diagnostics"  # absolute: diagnostic aggregators listen there

# Services
SEGMENT_PART = "segment_part"

# Launch argument -> the input it remaps
INPUT_TOPIC_ARGUMENTS = {
    "color_topic": COLOR_IMAGE,
    "depth_topic": DEPTH_IMAGE,
    "camera_info_topic": CAMERA_INFO,
    "instruction_topic": INSTRUCTION,
}

# Grasp filter node (inputs also PART_SEGMENTATION, DEPTH_IMAGE, CAMERA_INFO)
GRASP_CANDIDATES = "grasp_candidates"
FILTERED_GRASPS = "filtered_grasps"
GRASP_MARKERS = "grasp_markers"
FILTER_GRASPS = "filter_grasps"  # service

# Launch argument -> the grasp filter node input it remaps
GRASP_FILTER_TOPIC_ARGUMENTS = {
    "part_segmentation_topic": PART_SEGMENTATION,
    "depth_topic": DEPTH_IMAGE,
    "camera_info_topic": CAMERA_INFO,
    "grasp_candidates_topic": GRASP_CANDIDATES,
}
