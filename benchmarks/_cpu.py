"""``python benchmarks/_cpu.py OUT pytest-args...``: pytest as ``python -m pytest`` would run it, then the
CPU seconds of the pytest process itself and of the child processes it waited for (the plan's smoke
tests, the routing script, kubectl, git) written to OUT as JSON. Used by benchmarks/run.py for its
counted gate run only; the timed runs are plain ``python -m pytest``."""

import json
import resource
import sys

import pytest

if __name__ == "__main__":
    out, args = sys.argv[1], sys.argv[2:]
    sys.argv = ["pytest", *args]
    code = pytest.main(args)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(out, "w") as f:
        json.dump({"self_s": own.ru_utime + own.ru_stime, "children_s": children.ru_utime + children.ru_stime}, f)
    sys.exit(int(code))
