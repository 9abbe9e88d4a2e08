"""HDF5 snapshots: the leaf-cell table of one moment of a run, and ``read_snapshot``.

Layout (format ``octosim-snapshot``, version 1)::

    /            attrs: format, version, time, step, config (YAML text), octosim_version,
                        nlocalities, ncells
    /units       attrs: length (cm), mass (g), time (s) of one code unit
    /cells/NAME  1-D datasets, one per column: x, y, z, dx, level, then every field;
                 attr ``unit``: the column's dimension in code units (e.g. ``M L^-3``)

Cells are stored sorted by (z, y, x) of their centres, so a snapshot does not depend on how
the leaves were distributed over localities.
"""

import os

import h5py
import numpy as np
import yaml

from octosim.io._atomic import atomic_path

FORMAT = "octosim-snapshot"
VERSION = 1
GEOMETRY = ("x", "y", "z", "dx", "level")

_UNITS = {"x": "L", "y": "L", "z": "L", "dx": "L", "level": "1", "rho": "M L^-3",
          "sx": "M L^-2 T^-1", "sy": "M L^-2 T^-1", "sz": "M L^-2 T^-1",
          "egas": "M L^-1 T^-2", "tau": "(M L^-1 T^-2)^(1/gamma)", "phi": "L^2 T^-2"}


class SnapshotError(ValueError):
    """A snapshot or checkpoint file that cannot be read; ``str()`` is one line."""


class Snapshot:
    """One snapshot: ``time``, ``step``, ``config`` (dict), ``units`` (dict), ``cells``.

    ``cells`` maps x, y, z, dx, level and every field name to 1-D numpy arrays of equal
    length.  Item access (``snap["time"]``) works too.
    """

    def __init__(self, path, time, step, config, units, cells, attrs=None):
        self.path, self.time, self.step = path, time, step
        self.config, self.units, self.cells = config, units, cells
        self.attrs = attrs or {}

    def __getitem__(self, key):
        return getattr(self, key)

    def keys(self):
        return ("time", "step", "config", "units", "cells")

    @property
    def ncells(self):
        return len(self.cells["x"]) if "x" in self.cells else 0

    def __repr__(self):
        return f"Snapshot({self.path!r}, time={self.time}, step={self.step}, ncells={self.ncells})"


def canonical_order(cells):
    """Return the permutation sorting the cell table by (z, y, x), then level."""
    return np.lexsort((cells["level"], cells["x"], cells["y"], cells["z"]))


def _units_of(config):
    u = (config or {}).get("units") or {}
    return {k: float(u.get(k, 1.0)) for k in ("length", "mass", "time")}


def _column_unit(name):
    if name.startswith("spc_"):
        return "M L^-3"
    return _UNITS.get(name, "")


def write_snapshot(path, time, step, config, cells, nlocalities=1, xdmf=False):
    """Write the leaf-cell table ``cells`` (dict of equal-length 1-D arrays) atomically."""
    from octosim import __version__
    from octosim.config import dump_config
    missing = [g for g in GEOMETRY if g not in cells]
    assert not missing, f"leaf table lacks columns {missing}"
    n = len(cells["x"])
    order = canonical_order(cells)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["time"] = float(time)
            f.attrs["step"] = int(step)
            f.attrs["config"] = dump_config(config) if config is not None else ""
            f.attrs["octosim_version"] = __version__
            f.attrs["nlocalities"] = int(nlocalities)
            f.attrs["ncells"] = n
            ug = f.create_group("units")
            for k, v in _units_of(config).items():
                ug.attrs[k] = v
            cg = f.create_group("cells", track_order=True)
            for name, col in cells.items():
                col = np.asarray(col)
                assert col.shape == (n,), f"column {name} has shape {col.shape}, expected ({n},)"
                ds = cg.create_dataset(name, data=col[order])
                ds.attrs["unit"] = _column_unit(name)
    if xdmf:
        write_xdmf(path, time, n, {c: np.asarray(v).dtype for c, v in cells.items()
                                   if c not in ("x", "y", "z")})


def _xdmf_type(dtype):
    dtype = np.dtype(dtype)
    kind = {"f": "Float", "i": "Int", "u": "UInt"}.get(dtype.kind, "Float")
    return f'NumberType="{kind}" Precision="{dtype.itemsize}"'


def write_xdmf(h5path, time, n, columns):
    """Write an XDMF file beside ``h5path`` describing its cells as a point cloud.

    ``columns`` maps each non-coordinate column name to its dtype.
    """
    base = os.path.basename(h5path)
    attrs = "".join(
        f'    <Attribute Name="{c}" Center="Node"><DataItem Dimensions="{n}" '
        f'{_xdmf_type(dt)} Format="HDF">{base}:/cells/{c}</DataItem>'
        f'</Attribute>\n' for c, dt in columns.items())
    geom = "".join(
        f'      <DataItem Dimensions="{n}" NumberType="Float" Precision="8" '
        f'Format="HDF">{base}:/cells/{a}</DataItem>\n' for a in ("x", "y", "z"))
    text = (f'<?xml version="1.0" ?>\n<Xdmf Version="3.0">\n <Domain>\n'
            f'  <Grid Name="leaves" GridType="Uniform">\n   <Time Value="{float(time)!r}"/>\n'
            f'   <Topology TopologyType="Polyvertex" NumberOfElements="{n}"/>\n'
            f'   <Geometry GeometryType="X_Y_Z">\n{geom}   </Geometry>\n{attrs}'
            f'  </Grid>\n </Domain>\n</Xdmf>\n')
    with atomic_path(os.path.splitext(h5path)[0] + ".xdmf") as tmp:
        with open(tmp, "w") as fh:
            fh.write(text)


def open_h5(path, kind):
    """Open ``path`` for reading as an octosim ``kind`` file, or raise a one-line SnapshotError."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SnapshotError(f"{path}: no such file")
    if os.path.isdir(path):
        raise SnapshotError(f"{path}: is a directory, expected an HDF5 {kind}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        reason = str(exc).split(";")[0].split("(")[0].strip() or "unreadable"
        raise SnapshotError(f"{path}: not a readable HDF5 {kind} ({reason})") from None
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != f"octosim-{kind}":
        f.close()
        raise SnapshotError(f"{path}: not an octosim {kind} (format attribute {fmt!r})")
    return f


def _attr(f, path, name):
    try:
        v = f.attrs[name]
    except KeyError:
        raise SnapshotError(f"{path}: corrupt: attribute '{name}' missing") from None
    return v.decode() if isinstance(v, bytes) else v


def read_config_attr(f, path):
    """Return the config stored as YAML text in ``f.attrs['config']`` (a dict, or None)."""
    text = _attr(f, path, "config")
    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise SnapshotError(f"{path}: corrupt: config attribute is not YAML") from None


def read_snapshot(path):
    """Return the :class:`Snapshot` in ``path``; SnapshotError (one line) if unreadable."""
    path = os.fspath(path)
    f = open_h5(path, "snapshot")
    try:
        with f:
            time = float(_attr(f, path, "time"))
            step = int(_attr(f, path, "step"))
            config = read_config_attr(f, path)
            units = {k: float(v) for k, v in f["units"].attrs.items()} if "units" in f else {}
            if "cells" not in f:
                raise SnapshotError(f"{path}: corrupt: group /cells missing")
            cells = {name: ds[()] for name, ds in f["cells"].items()}
            attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in f.attrs.items()}
    except SnapshotError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        raise SnapshotError(f"{path}: corrupt snapshot ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    lens = {len(v) for v in cells.values()}
    if len(lens) > 1:
        raise SnapshotError(f"{path}: corrupt: cell columns of unequal length {sorted(lens)}")
    return Snapshot(path, time, step, config, units, cells, attrs)
