"""A program for the fork server's tests: `main()` does what its first argument says and
reports what it was started with."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time


def main() -> None:
    what = sys.argv[1]
    if what == "report":
        fds = {}
        for name in os.listdir("/proc/self/fd"):
            try:
                fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
            except OSError:  # the listing's own fd, closed by now
                continue
        report = {
            "argv": sys.argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "stdin": sys.stdin.read(),
            "fds": fds,
            "pid": os.getpid(),
            "sid": os.getsid(0),
            "pgid": os.getpgid(0),
            "ppid": os.getppid(),
            "modules": sorted(m for m in sys.modules if m.startswith("tests.")),
        }
        print(json.dumps(report))
        print("a line on stderr", file=sys.stderr)
    elif what == "exit":
        sys.exit(int(sys.argv[2]))
    elif what == "message":
        sys.exit("bad input: say what to fix")
    elif what == "crash":
        raise RuntimeError("boom")
    elif what == "atexit":
        atexit.register(lambda: print("atexit ran"))
        print("main ran")
    elif what == "sleep":
        print(os.getpid(), flush=True)
        time.sleep(120)
