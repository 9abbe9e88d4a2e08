"""HDF5 checkpoints: everything a run needs to continue bitwise identically.

Layout (format ``octosim-checkpoint``, version 1)::

    /          attrs: format, version, time (float64, exact), step, config (YAML text),
                      extra (YAML text: driver/CLI state such as the next output time),
                      key_kind (int | tuple | str), nnodes, layout (stacked | pernode)
    /keys      node keys in the order given (int64/uint64 1-D, 2-D for tuple keys, or str)
    /arrays    stacked: one dataset (nnodes, ...) when all node arrays share shape and dtype
    /nodes/i   pernode: dataset ``a`` or, for a dict of arrays per node, one dataset per name

Datasets carry Fletcher-32 checksums, so a damaged file is reported rather than restarted
from.  Files are written atomically (temporary file, fsync, ``os.replace``): a failure
mid-write leaves the previous checkpoint of that name intact.
"""

import os

import h5py
import numpy as np
import yaml

from octosim.io._atomic import atomic_path
from octosim.io.snapshot import SnapshotError, _attr, open_h5, read_config_attr

FORMAT = "octosim-checkpoint"
VERSION = 1


class Checkpoint:
    """A checkpoint read back: ``time``, ``step``, ``config``, ``node_keys``, ``node_arrays``,
    ``extra`` (dict)."""

    def __init__(self, path, time, step, config, node_keys, node_arrays, extra):
        self.path, self.time, self.step, self.config = path, time, step, config
        self.node_keys, self.node_arrays, self.extra = node_keys, node_arrays, extra

    def __repr__(self):
        return (f"Checkpoint({self.path!r}, time={self.time!r}, step={self.step}, "
                f"nnodes={len(self.node_keys)})")


def _encode_keys(keys):
    keys = list(keys)
    if all(isinstance(k, (int, np.integer)) for k in keys):
        arr = np.array([int(k) for k in keys], dtype=object)
        dtype = np.uint64 if keys and max(arr) > np.iinfo(np.int64).max else np.int64
        return "int", np.array([int(k) for k in keys], dtype=dtype)
    if all(isinstance(k, tuple) for k in keys) and len({len(k) for k in keys}) <= 1:
        return "tuple", np.array(keys, dtype=np.int64).reshape(len(keys), -1)
    if all(isinstance(k, str) for k in keys):
        return "str", np.array(keys, dtype=h5py.string_dtype())
    raise AssertionError(f"node keys of types {sorted({type(k).__name__ for k in keys})} "
                         "cannot be checkpointed")


def _decode_keys(kind, data):
    if kind == "int":
        return [int(k) for k in data]
    if kind == "tuple":
        return [tuple(int(v) for v in row) for row in data]
    return [k.decode() if isinstance(k, bytes) else str(k) for k in data]


def write_checkpoint(path, time, step, config, node_keys, node_arrays, extra=None):
    """Write a checkpoint atomically; ``node_arrays[i]`` (array or dict of arrays) belongs
    to ``node_keys[i]``."""
    from octosim.config import dump_config
    node_keys, node_arrays = list(node_keys), list(node_arrays)
    assert len(node_keys) == len(node_arrays), (len(node_keys), len(node_arrays))
    kind, keys = _encode_keys(node_keys)
    stacked = (node_arrays and all(isinstance(a, np.ndarray) for a in node_arrays)
               and len({(a.shape, a.dtype.str) for a in node_arrays}) == 1)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["time"] = np.float64(time)
            f.attrs["step"] = int(step)
            f.attrs["config"] = dump_config(config) if config is not None else ""
            f.attrs["extra"] = yaml.safe_dump(extra or {})
            f.attrs["key_kind"] = kind
            f.attrs["nnodes"] = len(node_keys)
            f.attrs["layout"] = "stacked" if stacked else "pernode"
            f.create_dataset("keys", data=keys)
            if stacked:
                f.create_dataset("arrays", data=np.stack(node_arrays), fletcher32=True)
            else:
                g = f.create_group("nodes")
                for i, a in enumerate(node_arrays):
                    sub = g.create_group(str(i), track_order=True)
                    items = a.items() if isinstance(a, dict) else [("a", a)]
                    sub.attrs["dict"] = isinstance(a, dict)
                    for name, arr in items:
                        sub.create_dataset(name, data=np.asarray(arr), fletcher32=True)


def read_checkpoint(path):
    """Return the :class:`Checkpoint` in ``path``; SnapshotError (one line) if unusable."""
    path = os.fspath(path)
    f = open_h5(path, "checkpoint")
    try:
        with f:
            time = float(np.float64(_attr(f, path, "time")))
            step = int(_attr(f, path, "step"))
            config = read_config_attr(f, path)
            extra = yaml.safe_load(_attr(f, path, "extra")) or {}
            kind = _attr(f, path, "key_kind")
            nnodes = int(_attr(f, path, "nnodes"))
            keys = _decode_keys(kind, f["keys"][()])
            if _attr(f, path, "layout") == "stacked":
                arrays = list(f["arrays"][()])
            else:
                arrays = []
                for i in range(nnodes):
                    sub = f["nodes"][str(i)]
                    if sub.attrs["dict"]:
                        arrays.append({k: ds[()] for k, ds in sub.items()})
                    else:
                        arrays.append(sub["a"][()])
    except SnapshotError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, yaml.YAMLError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else ""
        raise SnapshotError(f"{path}: corrupt checkpoint ({type(exc).__name__}: {msg})") \
            from None
    if len(keys) != nnodes or len(arrays) != nnodes:
        raise SnapshotError(f"{path}: corrupt checkpoint: {len(keys)} keys, {len(arrays)} "
                            f"arrays, expected {nnodes}")
    return Checkpoint(path, time, step, config, keys, arrays, extra)
