# Opens pseudo-terminals until the kernel refuses one: the host has one pool of them
# (kernel.pty.max), which a task must not be able to empty. Prints how many it got.
import os

held = []
while len(held) < 5000:
    try:
        held.append(os.openpty())
    except OSError as error:
        print("refused after", len(held), "ptys:", error.strerror)
        break
else:
    print("OPENED", len(held))
