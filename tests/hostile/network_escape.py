# Tries to reach the host: loopback, the Docker bridge gateway and the resolver, by TCP
# and by UDP. Exits 0 when every attempt failed, 1 when one got through.
import socket
import sys

port = int(sys.argv[1])
resolver = sys.argv[2]
QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01"

def tcp(host, tcp_port):
    socket.create_connection((host, tcp_port), timeout=2).close()

def udp(host):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sock.sendto(QUERY, (host, 53))
    sock.recvfrom(512)

escaped = False
for name, attempt in [
    (f"tcp 127.0.0.1:{port}", lambda: tcp("127.0.0.1", port)),
    (f"tcp 172.17.0.1:{port}", lambda: tcp("172.17.0.1", port)),
    (f"tcp {resolver}:53", lambda: tcp(resolver, 53)),
    (f"udp {resolver}:53", lambda: udp(resolver)),
]:
    try:
        attempt()
        print(f"{name}: CONNECTED")
        escaped = True
    except OSError as error:
        print(f"{name}: blocked ({type(error).__name__})")
sys.exit(1 if escaped else 0)
