# Sourced by setup.sh and env.sh: which ROS 2 distribution this checkout builds against.
# ROS_DISTRO (the variable a sourced ROS install sets) picks it, default kilted; each
# distribution has its wheels in requirements/ros-<distro>.txt and its own venv,
# build, install and log folders, so both can be built side by side:
#   kilted -> .venv, build/, install/, log/      jazzy -> .venv-jazzy, build-jazzy/, ...
# Sets _ip_distro and _ip_suffix; returns 1 with the fix for a distribution without wheels.
_ip_distro=${ROS_DISTRO:-kilted}
if [ ! -f "$_ip_root/requirements/ros-$_ip_distro.txt" ]; then
  _ip_known=$(cd "$_ip_root/requirements" && ls ros-*.txt | sed 's/^ros-//; s/\.txt$//' | tr '\n' ' ')
  echo "instructpart_ros: ROS_DISTRO=$_ip_distro has no Python package index wheels here" \
    "(requirements/ros-$_ip_distro.txt); use one of: ${_ip_known% } (e.g. make setup ROS_DISTRO=jazzy)," \
    "or build with colcon in a workspace of your ROS install (README, 'On a robot')" >&2
  unset _ip_known
  return 1
fi
if [ "$_ip_distro" = kilted ]; then _ip_suffix=""; else _ip_suffix="-$_ip_distro"; fi
