#!/usr/bin/env python3
"""Per-task cost of planificador against its baselines, measured in one run.

For each program (bash -c 'echo hi', /bin/true, python3 -c 'print(1)') it measures:
  (a) planificador, warm pool, isolation "fast"
  (b) planificador, warm pool, isolation "strict"
  (c) planificador, pool 0 (a fresh container per task)
  (d) `docker run --rm` of the same runner image
  (e) bare `bwrap --unshare-all` on the host
  (f) a bare process on the host
latency = SUBMIT -> EXITED, one task at a time, measured two ways: back to back (the
next task is sent the moment the last one's EXITED arrives, so a task may wait for the
reset of the one before) and spaced (--gap-ms between tasks, so every reset is done: the
latency of a task that finds the daemon idle); throughput = tasks/s with every worker
busy. Then it prints the ratios the warm-pool targets are stated in.

Usage: bench/latency.py [--build build] [--samples 50] [--throughput-tasks 300]
                        [--modes a,b,c,d,e,f]
Needs the build (scripts/setup.sh), the runner images and a running engine.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

try:
    import zmq
except ImportError:
    # A python3 first on PATH (pyenv, a venv) may lack the distribution's python3-zmq.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PROGRAMS = {
    "echo": {"image": "bash", "code": b"echo hi\n", "argv": ["bash", "-c", "echo hi"]},
    "true": {"image": "bash", "code": b"exec /bin/true\n", "argv": ["/bin/true"]},
    "python": {"image": "python", "code": b"print(1)\n", "argv": ["python3", "-c", "print(1)"]},
}
RUNNER_IMAGE = {"bash": "planificador/bash", "python": "planificador/python"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, p):
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


class Daemon:
    """A planificador process with a generated config, and a client for it."""

    def __init__(self, build, pool, isolation, workers):
        self.intake = f"tcp://127.0.0.1:{free_port()}"
        self.events = f"tcp://127.0.0.1:{free_port()}"
        self.dir = tempfile.mkdtemp(prefix="planificador-bench-")
        config = os.path.join(self.dir, "config.toml")
        with open(os.path.join(TOP, "config.toml")) as f:
            text = f.read()
        text = text.replace('"tcp://127.0.0.1:5555"', f'"{self.intake}"')
        text = text.replace('"tcp://127.0.0.1:5556"', f'"{self.events}"')
        # The shipped [server], [output], [docker] and [limits]; then one runner per
        # program whose run is exactly the program's argv, so each row compares the same
        # command with its baselines (the shipped bash runner would add a bash start to
        # /bin/true).
        lines = []
        for line in text.split("[[runner]]")[0].splitlines():
            stripped = line.split("#")[0].strip()
            if stripped.startswith("workers") and "=" in stripped:
                line = f"workers = {workers}"
            if stripped.startswith("pool") and "=" in stripped:
                continue
            if stripped.startswith("listen") and "=" in stripped:
                line = 'listen = ""'  # the shipped port may be another daemon's
            lines.append(line)
        for program, spec in PROGRAMS.items():
            argv = ", ".join(f'"{arg}"' for arg in spec["argv"])
            lines += ["", "[[runner]]", f'match = ["{program}"]',
                      f'image = "{RUNNER_IMAGE[spec["image"]]}"', 'file = "main"',
                      f"run = [{argv}]", f"pool = {pool}", f'isolation = "{isolation}"']
        with open(config, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.log = open(os.path.join(self.dir, "daemon.log"), "w")
        self.proc = subprocess.Popen(
            [os.path.join(build, "bin", "planificador"), "--config", config],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.ctx = zmq.Context()
        self.push = self.ctx.socket(zmq.PUSH)
        self.push.connect(self.intake)
        self.pull = self.ctx.socket(zmq.PULL)
        self.pull.connect(self.events)
        # Warm-up: the first task proves the daemon serves; then every runner's pool must
        # fill (while containers start, tasks wait for them): each program runs until its
        # last ten tasks took at most three times their median.
        deadline = time.time() + 120
        while self.run_one("echo", timeout=30) is None:
            if time.time() > deadline:
                raise RuntimeError(f"daemon did not serve; log in {self.dir}/daemon.log")
        for program in PROGRAMS:
            recent = []
            while time.time() < deadline:
                recent = (recent + [self.run_one(program) or float("inf")])[-10:]
                if len(recent) == 10 and max(recent) <= 3 * statistics.median(recent):
                    break

    def submit(self, program):
        spec = PROGRAMS[program]
        task_id = uuid.uuid4().hex.encode()
        image = program.encode()
        frame = (b"\x00" + task_id + len(image).to_bytes(4, "big")
                 + len(spec["code"]).to_bytes(4, "big") + image + spec["code"])
        self.push.send(frame)
        return task_id

    def wait_exited(self, pending, timeout):
        """Reads events until every id in `pending` has its EXITED; returns their codes."""
        codes = {}
        poller = zmq.Poller()
        poller.register(self.pull, zmq.POLLIN)
        deadline = time.time() + timeout
        while pending - codes.keys():
            left = deadline - time.time()
            if left <= 0 or not poller.poll(int(left * 1000)):
                return None
            frame = self.pull.recv()
            if frame[0] == 0x03:
                codes[frame[1:33]] = int.from_bytes(frame[33:37], "big", signed=True)
        return codes

    def run_one(self, program, timeout=60):
        start = time.perf_counter()
        task_id = self.submit(program)
        codes = self.wait_exited({task_id}, timeout)
        if not codes or codes[task_id] != 0:
            return None
        return time.perf_counter() - start

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.push.close(0)
        self.pull.close(0)
        self.ctx.term()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def measure_daemon(daemon, program, samples, tasks, gap):
    latencies, spaced = [], []
    for series, pause in ((latencies, 0), (spaced, gap)):
        for _ in range(samples):
            time.sleep(pause)
            value = daemon.run_one(program)
            if value is None:
                raise RuntimeError(f"a {program} task failed")
            series.append(value)
    start = time.perf_counter()
    ids = {daemon.submit(program) for _ in range(tasks)}
    codes = daemon.wait_exited(ids, 600)
    elapsed = time.perf_counter() - start
    if not codes or any(code != 0 for code in codes.values()):
        raise RuntimeError(f"throughput run of {program} failed")
    return latencies, spaced, tasks / elapsed


def measure_command(argv_for, program, samples, tasks, workers, gap):
    latencies, spaced = [], []
    for series, pause in ((latencies, 0), (spaced, gap)):
        for _ in range(samples):
            time.sleep(pause)
            start = time.perf_counter()
            subprocess.run(argv_for(program), check=True, stdout=subprocess.DEVNULL)
            series.append(time.perf_counter() - start)
    start = time.perf_counter()
    running = []
    for _ in range(tasks):
        if len(running) >= workers:
            running.pop(0).wait()
        running.append(subprocess.Popen(argv_for(program), stdout=subprocess.DEVNULL))
    for proc in running:
        proc.wait()
    return latencies, spaced, tasks / (time.perf_counter() - start)


def docker_run(program):
    spec = PROGRAMS[program]
    return ["docker", "run", "--rm", "--network", "none", RUNNER_IMAGE[spec["image"]]] + spec["argv"]


def host_argv(program):
    """The program's argv on the host: python3 is the distribution's /usr/bin/python3 (the
    runner image's interpreter), not a pyenv or venv shim first on PATH."""
    argv = list(PROGRAMS[program]["argv"])
    if argv[0] == "python3" and os.path.exists("/usr/bin/python3"):
        argv[0] = "/usr/bin/python3"
    return argv


def bare_bwrap(program):
    return ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
            "--tmpfs", "/tmp", "--"] + host_argv(program)


def bare_process(program):
    return host_argv(program)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(TOP, "build"))
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--throughput-tasks", type=int, default=300)
    parser.add_argument("--docker-samples", type=int, default=10)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--modes", default="a,b,c,d,e,f")
    parser.add_argument("--programs", default="echo,true,python")
    parser.add_argument("--gap-ms", type=int, default=100,
                        help="pause before each spaced latency sample")
    args = parser.parse_args()
    modes = args.modes.split(",")
    programs = args.programs.split(",")
    names = {"a": "planificador fast", "b": "planificador strict", "c": "planificador pool 0",
             "d": "docker run --rm", "e": "bare bwrap", "f": "bare process"}
    results = {}

    for mode, pool, isolation in (("a", args.workers, "fast"), ("b", args.workers, "strict"),
                                  ("c", 0, "strict")):
        if mode not in modes:
            continue
        daemon = Daemon(args.build, pool, isolation, args.workers)
        try:
            for program in programs:
                slow = mode == "c"
                results[(mode, program)] = measure_daemon(
                    daemon, program, args.docker_samples if slow else args.samples,
                    max(10, args.throughput_tasks // 10) if slow else args.throughput_tasks,
                    args.gap_ms / 1000)
        finally:
            daemon.close()

    for mode, argv_for in (("d", docker_run), ("e", bare_bwrap), ("f", bare_process)):
        if mode not in modes:
            continue
        for program in programs:
            slow = mode == "d"
            results[(mode, program)] = measure_command(
                argv_for, program, args.docker_samples if slow else args.samples,
                max(10, args.throughput_tasks // 10) if slow else args.throughput_tasks,
                args.workers, args.gap_ms / 1000)

    print(f"{'':31} {'back to back':>19} {'spaced':>19}")
    print(f"{'program':8} {'mode':22} {'p50 ms':>9} {'p99 ms':>9} {'p50 ms':>9} {'p99 ms':>9} "
          f"{'tasks/s':>9}")
    for (mode, program), (latencies, spaced, throughput) in sorted(
            results.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(f"{program:8} {mode + ') ' + names[mode]:22} "
              f"{1000 * statistics.median(latencies):9.1f} {1000 * percentile(latencies, 99):9.1f} "
              f"{1000 * statistics.median(spaced):9.1f} {1000 * percentile(spaced, 99):9.1f} "
              f"{throughput:9.1f}")

    def p50(mode, program, series):
        if (mode, program) not in results:
            return None
        return 1000 * statistics.median(results[(mode, program)][series])

    for series, title in ((0, "back to back"), (1, "spaced")):
        print(f"\nratios (p50, {title})")
        for program in programs:
            a, b, d, e, f = (p50(m, program, series) for m in "abdef")
            if b and e:
                print(f"{program:8} strict / bare bwrap     = {b / e:6.2f}  (target <= 1.2)")
            if a and f:
                print(f"{program:8} fast - bare process     = {a - f:6.1f} ms (target <= 2 ms)")
            if a and d:
                print(f"{program:8} docker run / fast       = {d / a:6.1f}  (target >= 30)")
            if d and f:
                # What an executor that added nothing to the program's own start would reach.
                print(f"{program:8} docker run / bare proc. = {d / f:6.1f}  (an executor of no cost)")
    print("\nthroughput")
    for program in programs:
        if ("a", program) in results:
            line = f"{program:8} fast = {results[('a', program)][2]:6.1f} tasks/s (target >= 300)"
            if ("f", program) in results:
                line += f"; bare process = {results[('f', program)][2]:6.1f} tasks/s"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
