#!/usr/bin/env bash
# Creates (or refreshes) .venv with the pinned stack and checks Java 17+.
# Idempotent: a stamp file records the hash of pyproject.toml + constraints.txt, so a
# second run with nothing changed returns in a second.
set -euo pipefail
cd "$(dirname "$0")/.."

need_java() {
  echo "ERROR: PySpark 4 needs Java 17 or newer on PATH (or JAVA_HOME)." >&2
  echo "       Debian/Ubuntu: sudo apt-get install -y openjdk-17-jre-headless" >&2
  echo "       macOS:         brew install openjdk@17" >&2
  exit 1
}
JAVA_BIN="${JAVA_HOME:+$JAVA_HOME/bin/}java"
command -v "$JAVA_BIN" >/dev/null 2>&1 || need_java
java_major=$("$JAVA_BIN" -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}')
[ -n "$java_major" ] && [ "$java_major" -ge 17 ] || { echo "Found Java ${java_major:-?}." >&2; need_java; }

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.umair-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # pip unpacks the wheels under TMPDIR and installs them here: say so before it fails half-way with errno 28
  need_gb=9
  for dir in . "${TMPDIR:-/tmp}"; do
    free_gb=$(df -Pk "$dir" | awk 'NR == 2 {print int($4 / 1048576)}')
    if [ "$free_gb" -lt "$need_gb" ]; then
      echo "ERROR: installing the pinned stack needs about $need_gb GB free; $(cd "$dir" && pwd) has $free_gb GB." >&2
      echo "       Free some space there (or point TMPDIR elsewhere) and run 'make venv' again." >&2
      exit 1
    fi
  done
  echo "[bootstrap] installing the pinned stack into .venv (first time: a few minutes, about 8 GB)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[test]"
  echo "$want" > "$stamp"
fi
echo "[bootstrap] .venv ready (Java $java_major, $(.venv/bin/python --version))"
