# Reads what /proc shows of the host and of other tasks: the kernel command line, every
# process's file locks (it holds one itself, so an unmasked /proc/locks is never empty),
# interrupt, memory and load counters, pressure. Prints a line per view; a view that
# shows anything is printed with SHOWN.
import fcntl
import os

with open("locked", "w") as held:
    fcntl.lockf(held, fcntl.LOCK_EX)
    for path in ["/proc/cmdline", "/proc/locks", "/proc/interrupts", "/proc/softirqs",
                 "/proc/loadavg", "/proc/vmstat", "/proc/diskstats", "/proc/schedstat"]:
        try:
            with open(path) as view:
                text = view.read()
        except FileNotFoundError:
            print(path, "absent")
            continue
        print(path, "SHOWN" if text else "empty")
    pressure = os.listdir("/proc/pressure") if os.path.isdir("/proc/pressure") else []
    print("/proc/pressure", "SHOWN" if pressure else "empty")
    with open("/proc/stat") as stat:
        counters = [line for line in stat if line.startswith(("cpu", "ctxt", "intr"))]
    busy = [line for line in counters if any(field != "0" for field in line.split()[1:])]
    print("/proc/stat", "SHOWN" if busy else "still", len(counters))
    with open("/proc/meminfo") as meminfo:
        fields = {key: value.strip() for key, value in (line.split(":", 1) for line in meminfo)}
    print("/proc/meminfo", "still" if fields["MemFree"] == fields["MemTotal"] else "SHOWN")
    print("cpus", os.cpu_count())
