# Fills /tmp and the work directory until the file system says ENOSPC, then reports and
# cleans up; the sandbox must stop it with ENOSPC, not with anything worse.
import errno
import os

def fill(directory):
    path = os.path.join(directory, "fill")
    block = b"\0" * (1 << 20)
    written = 0
    try:
        with open(path, "wb") as out:
            while written < (4 << 30):
                out.write(block)
                out.flush()
                written += len(block)
    except OSError as error:
        code = errno.errorcode.get(error.errno, str(error.errno))
        print(f"{directory}: {code} after {written >> 20} MiB", flush=True)
    finally:
        if os.path.exists(path):
            os.remove(path)

fill("/tmp")
fill(".")
