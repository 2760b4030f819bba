# Floods stdout and stderr at once from two processes, so the limit must count both
# streams together and stop the whole tree.
import os
import sys

line = b"x" * 1023 + b"\n"
stream = sys.stdout.buffer if os.fork() == 0 else sys.stderr.buffer
while True:
    stream.write(line)
