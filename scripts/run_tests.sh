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
# One DDS domain per run so two runs on one host never see each other's topics.
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( ($$ % 100) + 100 ))}
pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "[test] pytest collected no tests: that is a broken suite, not a pass" >&2
  exit 1
fi
exit $rc
