# source scripts/env.sh -- a shell with the venv, the colcon install and the DDS settings.
# (Run `make setup` first.) ROS_DISTRO=jazzy: the Jazzy build (make setup ROS_DISTRO=jazzy).
_ip_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
# shellcheck source=scripts/ros_distro.sh
source "$_ip_root/scripts/ros_distro.sh" || { unset _ip_root _ip_distro; return 1 2>/dev/null || exit 1; }
if [ ! -f "$_ip_root/install$_ip_suffix/setup.bash" ] || [ ! -x "$_ip_root/.venv$_ip_suffix/bin/python" ]; then
  echo "instructpart_ros: $_ip_root/install$_ip_suffix or .venv$_ip_suffix is missing:" \
    "run 'make setup${_ip_suffix:+ ROS_DISTRO=$_ip_distro}' first" >&2
  unset _ip_root _ip_distro _ip_suffix
  return 1 2>/dev/null || exit 1
fi
# colcon's setup scripts read unset variables: source them without `set -u`, then
# restore the caller's shell options.
_ip_nounset=0; case $- in *u*) _ip_nounset=1; set +u ;; esac
# shellcheck disable=SC1091
source "$_ip_root/.venv$_ip_suffix/bin/activate"
export AMENT_PREFIX_PATH=$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
# shellcheck disable=SC1091
source "$_ip_root/install$_ip_suffix/setup.bash"
[ "$_ip_nounset" = 1 ] && set -u
unset _ip_nounset
# Large images and point clouds between processes: FastDDS's default transports lose or
# delay them (see README, "QoS and transport"); LARGE_DATA uses TCP + shared memory.
export FASTDDS_BUILTIN_TRANSPORTS=${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}
# Jazzy's Fast DDS 2.14 loses best-effort camera frames even with LARGE_DATA (its shared
# memory segment is too small): a profile with a bigger one (config/fastdds_large_frames.xml).
if [ "$_ip_distro" = jazzy ]; then
  export FASTRTPS_DEFAULT_PROFILES_FILE=${FASTRTPS_DEFAULT_PROFILES_FILE:-$_ip_root/config/fastdds_large_frames.xml}
fi
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
if [ -z "${INSTRUCTPART_DATA:-}" ] && [ -d "$_ip_root/../shared/data" ]; then
  export INSTRUCTPART_DATA=$(cd "$_ip_root/../shared/data" && pwd)
fi
# As a sourced ROS install does: says which distribution this shell runs.
export ROS_DISTRO=$_ip_distro
unset _ip_root _ip_distro _ip_suffix
