# Looks for what an earlier task left in the network namespace: sockets in /proc/net/tcp,
# loopback traffic, TCP connections opened; and binds the port it used, without
# SO_REUSEADDR, which a TIME_WAIT socket on it would refuse.
import socket

with open("/proc/net/tcp") as tcp:
    print("sockets", len(tcp.readlines()) - 1)
with open("/proc/net/dev") as dev:
    lo = [line.split() for line in dev if line.strip().startswith("lo:")][0]
    print("loopback bytes", lo[1])
with open("/proc/net/snmp") as snmp:
    rows = [line.split() for line in snmp if line.startswith("Tcp:")]
    print("tcp active opens", dict(zip(rows[0], rows[1]))["ActiveOpens"])
probe = socket.socket()
try:
    probe.bind(("127.0.0.1", 40123))
    print("bind ok")
except OSError as error:
    print("bind", error.strerror)
