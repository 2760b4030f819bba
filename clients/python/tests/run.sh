#!/usr/bin/env bash
# Runs the Python client's whole test suite against a real daemon, without installing the
# package: clients/python goes on PYTHONPATH. Exits non-zero on any failure or error.
#   PLANIFICADOR_BIN       directory of the planificador binary (default: <repo>/build/bin)
#   PLANIFICADOR_TEST_XML  also write GoogleTest-shaped XML counts there (tests/_runner.py)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
package_root=$(dirname "$here")
repo=$(cd "$package_root/../.." && pwd)
export PLANIFICADOR_BIN=${PLANIFICADOR_BIN:-$repo/build/bin}

# Debian's interpreter: it has python3-zmq; a pyenv python3 earlier on PATH may not.
python=/usr/bin/python3

if ! docker info >/dev/null 2>&1; then
  bash "$repo/scripts/engine.sh"
fi

export PYTHONDONTWRITEBYTECODE=1  # keep the work tree free of __pycache__
export PYTHONPATH="$package_root:$here${PYTHONPATH:+:$PYTHONPATH}"
cd "$here"
exec "$python" "$here/_runner.py"
