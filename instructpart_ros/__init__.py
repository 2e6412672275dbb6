"""instructpart_ros: task instruction + RGB-D -> the object part to grasp.

The generated message modules (``instructpart_ros.msg``/``.srv``) live in the
colcon install; ``extend_path`` merges every ``instructpart_ros`` directory on
``sys.path`` so the hand-written library and the generated interfaces import
from one namespace, whichever copy is found first.
"""
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
__version__ = "0.1.0"
