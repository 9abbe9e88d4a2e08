"""HDF5 snapshots and checkpoints of octosim runs.

``read_snapshot(path)`` returns a :class:`Snapshot` with ``.time``, ``.step``, ``.config``
and ``.cells`` (x, y, z, dx, level and every field as 1-D arrays).  Checkpoints hold every
node's arrays for a bitwise-identical restart and are written atomically.
"""

from octosim.io.checkpoint import Checkpoint, read_checkpoint, write_checkpoint
from octosim.io.snapshot import (Snapshot, SnapshotError, read_snapshot, write_snapshot,
                                 write_xdmf)

__all__ = ["Snapshot", "SnapshotError", "read_snapshot", "write_snapshot", "write_xdmf",
           "Checkpoint", "read_checkpoint", "write_checkpoint", "snapshot_name",
           "checkpoint_name"]


def snapshot_name(step):
    """Return the file name of the snapshot at ``step``: ``snapshot_000123.h5``."""
    return f"snapshot_{step:06d}.h5"


def checkpoint_name(step):
    """Return the file name of the checkpoint at ``step``: ``checkpoint_000123.h5``."""
    return f"checkpoint_{step:06d}.h5"
