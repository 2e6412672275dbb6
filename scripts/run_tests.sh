#!/usr/bin/env bash
# make test: the whole suite against the colcon install, real data from ../shared/data.
# Extra arguments go to pytest (make test ARGS="-k geometry").
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source scripts/env.sh || exit 1
if [ -n "${INSTRUCTPART_DATA:-}" ]; then
  echo "[test] real data from INSTRUCTPART_DATA=$INSTRUCTPART_DATA"
else
  echo "[test] INSTRUCTPART_DATA is not set and ../shared/data is absent: real-data tests are skipped"
fi
# A second distribution (make test ROS_DISTRO=jazzy) runs the ROS-facing tests (marker
# `ros`, see test/conftest.py): the rest does not depend on ROS. ARGS=test runs them all.
if [ "$ROS_DISTRO" != kilted ] && [ $# -eq 0 ]; then
  echo "[test] ROS 2 $ROS_DISTRO: the ROS-facing tests (-m ros; ARGS=test for the whole suite)"
  set -- -m ros
fi
# One DDS domain per run so two runs on one host never see each other's topics.
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( ($$ % 100) + 100 ))}
pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a broken suite, not a pass" >&2
  exit 1
fi
exit $rc
