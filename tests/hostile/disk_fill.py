# Fills every writable place until the file system refuses, and leaves the files there
# for whoever comes next. Prints "<place>: <errno name> after <n> MiB" for each, and
# for the root directory, which must be read-only, what writing there did.
import errno
import os

def fill(directory):
    path = os.path.join(directory, ".planificador-fill")
    block = b"\1" * (1 << 20)
    written = 0
    try:
        with open(path, "ab") as out:
            while written < (4 << 30):
                out.write(block)
                out.flush()
                written += len(block)
        print(f"{directory}: NOT FULL after {written >> 20} MiB", flush=True)
    except OSError as error:
        code = errno.errorcode.get(error.errno, str(error.errno))
        print(f"{directory}: {code} after {written >> 20} MiB", flush=True)

for place in ["/work", "/tmp", "/var/tmp", "/dev/shm", os.environ.get("HOME", "/work"), "/"]:
    fill(place)
