# Looks for a way to the Docker engine or the sandbox helper: the usual socket paths,
# any unix socket in the usual directories, and the engine's TCP ports on loopback and
# the bridge gateway (argv[1], "none" on a host without a docker0 bridge). Exits 0 when
# nothing answered, 1 when one connected.
import os
import socket
import stat
import sys

gateway = sys.argv[1]
paths = ["/var/run/docker.sock", "/run/docker.sock", "/planificador/run/sandboxd.sock",
         "/run/containerd/containerd.sock", "/run/planificador"]
for directory in ["/run", "/var/run", "/planificador", "/planificador/run", "/tmp", "/"]:
    try:
        for name in os.listdir(directory):
            path = os.path.join(directory, name)
            if stat.S_ISSOCK(os.lstat(path).st_mode):
                paths.append(path)
    except OSError:
        pass
escaped = False
for path in dict.fromkeys(paths):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(1)
            client.connect(path)
        print(f"{path}: CONNECTED")
        escaped = True
    except OSError as error:
        print(f"{path}: blocked ({error.strerror or error})")
for host in ["127.0.0.1"] + ([gateway] if gateway != "none" else []):
    for port in (2375, 2376):
        try:
            socket.create_connection((host, port), timeout=1).close()
            print(f"{host}:{port}: CONNECTED")
            escaped = True
        except OSError as error:
            print(f"{host}:{port}: blocked ({error.strerror or error})")
sys.exit(1 if escaped else 0)
