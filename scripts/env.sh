# source scripts/env.sh -- a shell with the venv, the colcon install and the DDS settings.
# (Run `make setup` first.)
_ip_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)
if [ ! -f "$_ip_root/install/setup.bash" ]; then
  echo "instructpart_ros: $_ip_root/install is missing: run 'make setup' first" >&2
  return 1 2>/dev/null || exit 1
fi
# colcon's setup scripts read unset variables: source them without `set -u`, then
# restore the caller's shell options.
_ip_nounset=0; case $- in *u*) _ip_nounset=1; set +u ;; esac
# shellcheck disable=SC1091
source "$_ip_root/.venv/bin/activate"
export AMENT_PREFIX_PATH=$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
# shellcheck disable=SC1091
source "$_ip_root/install/setup.bash"
[ "$_ip_nounset" = 1 ] && set -u
unset _ip_nounset
# Large images and point clouds between processes: FastDDS's default transports lose or
# delay them (see README, "QoS and transport"); LARGE_DATA uses TCP + shared memory.
export FASTDDS_BUILTIN_TRANSPORTS=${FASTDDS_BUILTIN_TRANSPORTS:-LARGE_DATA}
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
if [ -z "${INSTRUCTPART_DATA:-}" ] && [ -d "$_ip_root/../shared/data" ]; then
  export INSTRUCTPART_DATA=$(cd "$_ip_root/../shared/data" && pwd)
fi
unset _ip_root
