"""A locality fails; the job must end within seconds with a message naming it.

Usage: mpiexec -n N python tests/mpi/prog_fail.py PARCELPORT main|apply
``main``: the last locality raises in its main program while the others wait in a barrier.
``apply``: locality 0 applies an action that raises on the last locality.
"""
import sys
import time

import runtime

PP, MODE = sys.argv[1], sys.argv[2]


@runtime.action
def explode(tag):
    raise RuntimeError(f"deliberate failure {tag}")


with runtime.init(parcelport=PP, threads=2):
    n = len(runtime.localities())
    last = n - 1
    runtime.barrier()
    if MODE == "main" and runtime.here() == last:
        raise RuntimeError("deliberate failure main")
    if MODE == "apply" and runtime.here() == 0:
        runtime.apply(explode, last, "apply")
    runtime.barrier(timeout=600)  # never completes: the failure must end the job
    time.sleep(600)
