"""Launch ``mpiexec -n N python prog.py`` (or ``-m module``) from tests, with a hard timeout.

``run_mpi`` never hangs: past ``timeout`` seconds the whole launcher process group is killed
and the test fails with what the ranks printed so far.
"""
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

__all__ = ["run_mpi", "mpiexec_available", "REPO"]

REPO = Path(__file__).resolve().parents[1]


def mpiexec_available():
    return shutil.which("mpiexec") is not None


def run_mpi(script_or_module, nprocs, args=(), timeout=120, env=None, check=True):
    """Run a Python program on ``nprocs`` ranks; return the CompletedProcess (text output).

    ``script_or_module`` is a path to a .py file or a dotted module name (``python -m``).
    The repository root is put first on PYTHONPATH.  With ``check`` a nonzero exit status
    raises AssertionError carrying both output streams; a timeout always raises.
    """
    target = str(script_or_module)
    if target.endswith(".py") or os.sep in target:
        prog = [target]
    else:
        prog = ["-m", target]
    cmd = ["mpiexec", "-n", str(nprocs), sys.executable, *prog, *map(str, args)]
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([e["PYTHONPATH"]] if e.get("PYTHONPATH") else []))
    e.setdefault("OCTOSIM_TIMEOUT", str(max(5, int(timeout) - 5)))
    if env:
        e.update(env)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=e, cwd=str(REPO), start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        for sig in (signal.SIGINT, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                break
            try:
                out, err = p.communicate(timeout=3)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            out, err = "", ""
        raise AssertionError(f"{' '.join(cmd)} timed out after {timeout} s\n"
                             f"--- stdout ---\n{out}\n--- stderr ---\n{err}")
    res = subprocess.CompletedProcess(cmd, p.returncode, out, err)
    if check and p.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited with {p.returncode}\n"
                             f"--- stdout ---\n{out}\n--- stderr ---\n{err}")
    return res
