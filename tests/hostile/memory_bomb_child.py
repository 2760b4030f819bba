# The allocation happens in a child process: the parent only waits, so the memory limit
# must hold the whole process tree, not the process the sandbox started.
import os

pid = os.fork()
if pid == 0:
    blocks = []
    while True:
        blocks.append(bytearray(b"x" * (1 << 20)))
_, status = os.waitpid(pid, 0)
print(f"child ended with wait status {status}", flush=True)
