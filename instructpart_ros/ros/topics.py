"""Topic and service names of the perception node: short relative names, meant for remapping."""

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
