"""Statistics of this locality and of all of them (HPX performance counters, in a dict)."""
from .collectives import all_gather
from .core import current

__all__ = ["statistics", "gather_statistics"]


def statistics():
    """Return this locality's counters: parcels, messages, bytes (zero-copy vs copied), times."""
    rt = current()
    d = rt.stats.snapshot()
    d.update(locality=rt.here, localities=rt.size, parcelport=rt.parcelport_name,
             threads=rt.threads, tasks_run=rt.sched.tasks_run)
    return d


def gather_statistics(timeout=None):
    """Return every locality's ``statistics()`` as a list in rank order (collective)."""
    return all_gather(statistics(), name="runtime.statistics", timeout=timeout)
