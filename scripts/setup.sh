#!/usr/bin/env bash
# make setup: everything a fresh clone needs, idempotent and quick when nothing changed.
#   1. Debian packages the Python wheels need (libusb for open3d; cmake and g++ for colcon)
#   2. .venv with ROS 2 Kilted wheels, CPU torch, and this project with its test extras
#   3. colcon build of the ROS package (interfaces + library + executables) into install/
# ROS_DISTRO=jazzy does the same against Jazzy's wheels in .venv-jazzy, build-jazzy/,
# install-jazzy/ (scripts/ros_distro.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
_ip_root=$ROOT
# shellcheck source=scripts/ros_distro.sh
source scripts/ros_distro.sh || exit 1
DISTRO=$_ip_distro
SUFFIX=$_ip_suffix
VENV=${VENV:-$ROOT/.venv$SUFFIX}
PYTHON=${PYTHON:-python3}
# The local CPU build; set TORCH_SPEC="torch" (or a CUDA index) on a GPU machine.
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
# pip, with this machine's harmless "Location ... is ignored" index warnings filtered out
pip_install() {
  local log rc=0
  log=$(mktemp)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1 || rc=$?
  grep -v 'is ignored: it is neither a file nor a directory' "$log" >&2 || true
  rm -f "$log"
  return $rc
}

# --- 1. Debian packages ------------------------------------------------------------
missing=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]} (libusb for open3d, cmake/g++ for colcon)"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- 2. virtual environment --------------------------------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
touch "$VENV/COLCON_IGNORE"   # colcon searches recursively: keep it out of the venv
stamp="$VENV/.instructpart-installed"
want=$(cat setup.cfg setup.py "requirements/ros-$DISTRO.txt" | sha256sum | cut -d' ' -f1)-$TORCH_SPEC
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing Python packages into $VENV (ROS 2 ${DISTRO^} wheels, $TORCH_SPEC, project[test])"
  pip_install --upgrade pip
  pip_install "$TORCH_SPEC" -r "requirements/ros-$DISTRO.txt" -e ".[test]"
  "$VENV/bin/python" -c "import torch, rclpy, open3d, transformers" \
    || { echo "[setup] the Python install is incomplete: see the pip output above" >&2; exit 1; }
  echo "$want" >"$stamp"
else
  say "$VENV is up to date"
fi

# --- 3. colcon build ---------------------------------------------------------------
# The PyPI wheels' CMake exports name the wheel builder's include paths; CMakeLists.txt
# repairs them, so AMENT_PREFIX_PATH/CMAKE_PREFIX_PATH pointing at the venv is enough.
say "colcon build into install$SUFFIX/ (ROS 2 ${DISTRO^})"
export AMENT_PREFIX_PATH=$VENV CMAKE_PREFIX_PATH=$VENV
export PATH=$VENV/bin:$PATH
log=$(mktemp)
if ! flock /tmp/colcon.lock "$VENV/bin/colcon" --log-base "log$SUFFIX" build --paths . --symlink-install \
    --build-base "build$SUFFIX" --install-base "install$SUFFIX" \
    --event-handlers console_direct- >"$log" 2>&1; then
  cat "$log" >&2
  echo "[setup] colcon build failed (full log above and in log$SUFFIX/latest_build)" >&2
  exit 1
fi
grep -q 'Summary: 1 package finished' "$log" || { cat "$log" >&2; exit 1; }
rm -f "$log"
say "done: '${ROS_DISTRO:+export ROS_DISTRO=$DISTRO; }source scripts/env.sh' for a shell with the venv, the colcon install and the DDS settings"
