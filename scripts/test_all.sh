#!/usr/bin/env bash
# The whole test suite (`make test`, what CI runs) as two pytest processes at once:
#   - the cluster tests (marker `cluster`: a two-node Ray, a standalone Spark and an S3 server of their
#     own, every port picked free), their output in a log file, printed when they end;
#   - the rest, on the console as usual.
# Most of a cluster test's time is spent waiting on processes it started (JVMs, raylets, `ray start`),
# so the two halves share the 2 cores of a small CI machine better than they take turns on them.
# Each process builds the session fixtures it needs (the tiny site, lake and encoders) itself.
# Arguments go to both pytest processes. Exit status: non-zero when either half failed.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
log=${UMAIR_CLUSTER_TEST_LOG:-.umair/test-cluster.log}
mkdir -p "$(dirname "$log")"

"$PY" -m pytest -m cluster "$@" >"$log" 2>&1 &
cluster_pid=$!
trap 'kill "$cluster_pid" 2>/dev/null' INT TERM
echo "test: the cluster tests run beside the rest; their output goes to $log and is printed when they end"

"$PY" -m pytest -m "not cluster" "$@"
rest=$?
echo "test: the rest ended (exit $rest); waiting for the cluster tests"
wait "$cluster_pid"
clusters=$?
echo "================ the cluster tests (marker cluster; from $log) ================"
cat "$log"
echo "test: the rest exit $rest, the cluster tests exit $clusters"
# pytest's exit 5 = no test collected (a selection that matched nothing): not a failure of a half
[ "$rest" -eq 0 ] || [ "$rest" -eq 5 ] || exit "$rest"
[ "$clusters" -eq 0 ] || [ "$clusters" -eq 5 ] || exit "$clusters"
exit 0
