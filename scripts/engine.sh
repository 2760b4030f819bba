#!/usr/bin/env bash
# Makes sure a Docker engine answers on the socket; starts dockerd in the
# background when none does (machines without systemd, CI containers).
set -euo pipefail

socket=${PLANIFICADOR_DOCKER_SOCKET:-/var/run/docker.sock}

engine_answers() {
  curl -sf --max-time 2 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
}

if engine_answers; then
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "engine.sh: dockerd is not installed (run scripts/setup.sh)" >&2
  exit 1
fi

log=${PLANIFICADOR_DOCKERD_LOG:-/var/log/planificador-dockerd.log}
echo "engine.sh: starting dockerd (log: $log)" >&2
# setsid: the engine must outlive the shell that started it.
setsid nohup dockerd --host "unix://$socket" >"$log" 2>&1 </dev/null &

for _ in $(seq 1 120); do
  if engine_answers; then
    exit 0
  fi
  sleep 0.5
done
echo "engine.sh: dockerd did not answer on $socket within 60 s; last log lines:" >&2
tail -n 20 "$log" >&2 || true
exit 1
