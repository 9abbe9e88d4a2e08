"""Drop numba cache indexes that are older than the sources their kernels call.

Numba's on-disk cache of a module checks only that module's own source, so a kernel that
calls kernels from other files keeps running the old code after those files change.  A
module calls ``drop_stale(index_glob, source_globs)`` at import to delete such indexes.
"""
import glob
import os

__all__ = ["drop_stale"]


def drop_stale(index_glob, source_globs):
    """Delete the numba index files matching ``index_glob`` older than the newest source."""
    index = glob.glob(index_glob)
    sources = [p for g in source_globs for p in glob.glob(g)]
    if not index or not sources:
        return
    newest = max(os.path.getmtime(p) for p in sources)
    for p in index:
        try:
            if os.path.getmtime(p) < newest:
                os.remove(p)
        except OSError:
            pass
