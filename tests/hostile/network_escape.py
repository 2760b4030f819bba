# Tries to reach anything outside the sandbox by TCP and by UDP: loopback, the Docker
# bridge gateway, the resolver of /etc/resolv.conf (or the host's, when the container
# has none) and a public address (TEST-NET-1, never routed). argv: port gateway resolver;
# the gateway is "none" on a host without a docker0 bridge.
# A TCP attempt escapes when it connects; a UDP one when an answer comes back (the host's
# own sockets tell whether a datagram arrived). Exits 0 when nothing got through.
import socket
import sys

port = int(sys.argv[1])
gateway = sys.argv[2]
resolvers = [sys.argv[3]]
try:
    with open("/etc/resolv.conf") as conf:
        resolvers += [line.split()[1] for line in conf if line.startswith("nameserver ")]
except OSError:
    pass
QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"

def tcp(host, tcp_port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        sock.connect((host, tcp_port))

def udp(host, udp_port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(QUERY, (host, udp_port))
        sock.recvfrom(512)

targets = [("127.0.0.1", port), ("::1", port), ("192.0.2.1", 80)]
if gateway != "none":
    targets.append((gateway, port))
targets += [(resolver, 53) for resolver in dict.fromkeys(resolvers)]
escaped = False
for host, target_port in targets:
    for name, attempt in (("tcp", tcp), ("udp", udp)):
        udp_port = 53 if target_port == 80 else target_port
        try:
            attempt(host, target_port if name == "tcp" else udp_port)
            print(f"{name} {host}: CONNECTED", flush=True)
            escaped = True
        except OSError as error:
            print(f"{name} {host}: blocked ({type(error).__name__}: {error.strerror or error})",
                  flush=True)
sys.exit(1 if escaped else 0)
