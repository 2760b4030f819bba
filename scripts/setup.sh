#!/usr/bin/env bash
# Sets up a Debian 12 machine for planificador, idempotently: apt packages, a running
# Docker engine, the runner images, and a build in build/ (or $PLANIFICADOR_BUILD).
# Each step is quick when its work is already done.
#   scripts/setup.sh            everything
#   scripts/setup.sh --no-build packages, engine and images only
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
build=${PLANIFICADOR_BUILD:-$top/build}
do_build=1
[ "${1:-}" = "--no-build" ] && do_build=0

packages=(
  # build
  cmake g++ make pkg-config git ca-certificates curl
  # libraries
  libzmq3-dev cppzmq-dev libtomlplusplus-dev libspdlog-dev nlohmann-json3-dev
  libcurl4-openssl-dev libcli11-dev libexpected-dev libgtest-dev libgmock-dev
  libcpp-httplib-dev
  # fuzzing (libFuzzer ships in clang's runtime package) and the clang-tidy check
  clang libclang-rt-14-dev clang-tidy
  # sandbox, engine, base image
  bubblewrap docker.io debootstrap iproute2
  # test clients and benchmarks
  python3 python3-zmq python3-prometheus-client hyperfine
)

step() { printf '== %s\n' "$*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it installs packages and starts the Docker engine)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

step "docker engine"
"$here/engine.sh"

step "runner images"
"$here/images.sh"

if [ $do_build -eq 1 ]; then
  step "build ($build)"
  # Warnings are errors where we develop and test (scripts/test.sh sets it), not for a
  # plain build of the daemon.
  cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DPLANIFICADOR_WERROR="${PLANIFICADOR_WERROR:-OFF}" >/dev/null
  cmake --build "$build" -j"$(nproc)"
fi
