"""Helpers shared by the MPI test programs (imported from their own directory)."""
import threading

__all__ = ["in_threads"]


def in_threads(fn, n, timeout):
    """Run ``fn(t)`` for t in range(n) in n threads at once; assert none of them raised."""
    errors = []

    def run(t):
        try:
            fn(t)
        except BaseException as e:  # noqa: BLE001 - reported below, with the others
            errors.append(repr(e))

    ts = [threading.Thread(target=run, args=(t,)) for t in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    assert not any(t.is_alive() for t in ts), f"a thread still runs after {timeout} s"
    assert not errors, errors
