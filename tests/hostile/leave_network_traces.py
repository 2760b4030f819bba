# Leaves what a network namespace keeps after its sockets close: a listening port closed
# by the server side first (TIME_WAIT on that port for 60 s), loopback traffic and TCP
# counters. The next task of the container must find none of it.
import socket

listener = socket.socket()
listener.bind(("127.0.0.1", 40123))
listener.listen()
client = socket.create_connection(("127.0.0.1", 40123))
server, _ = listener.accept()
server.sendall(b"x" * 100000)
server.close()  # the side that closes first keeps TIME_WAIT
client.recv(200000)
client.close()
listener.close()
print("left")
