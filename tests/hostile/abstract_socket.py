# Abstract unix sockets live in the network namespace, not the file system, so two tasks
# that shared one could talk past every file-system boundary.
#   listen NAME DEADLINE  - binds @NAME, proves it works by connecting to itself, then
#                           accepts anyone until DEADLINE; says ACCEPTED when someone came
#   connect NAME DEADLINE - tries to connect to @NAME until DEADLINE; says CONNECTED if so
# DEADLINE is wall-clock epoch milliseconds, shared by both tasks so that they are active
# at the same time however long each took to start. Each prints its active window.
import socket
import sys
import time

mode, name, deadline = sys.argv[1], "\0" + sys.argv[2], int(sys.argv[3]) / 1000
start = time.time()
if mode == "listen":
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(name)
    server.listen(8)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.connect(name)
    server.accept()[0].close()
    probe.close()
    print("self: connected", flush=True)
    server.settimeout(0.1)
    while time.time() < deadline:
        try:
            server.accept()[0].close()
            print("ACCEPTED", flush=True)
        except socket.timeout:
            pass
else:
    while time.time() < deadline:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(name)
            print("CONNECTED", flush=True)
            break
        except OSError:
            time.sleep(0.05)
print(f"window {int(start * 1000)} {int(time.time() * 1000)}", flush=True)
