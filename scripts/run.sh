#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the daemon in the foreground with the
# shipped config.toml, or the config given as the first argument.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${PLANIFICADOR_BUILD:-$top/build}
config=${1:-$top/config.toml}

"$here/setup.sh"
exec "$build/bin/planificador" --config "$config"
