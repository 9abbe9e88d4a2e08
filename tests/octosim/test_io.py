"""Snapshots and checkpoints: round trips, canonical order, atomicity, one-line errors."""

import os

import h5py
import numpy as np
import pytest

from octosim.io import (SnapshotError, read_checkpoint, read_snapshot, write_checkpoint,
                        write_snapshot)

CONFIG = {"problem": {"name": "fake"}, "hydro": {"cfl": 0.4, "gamma": 1.4},
          "units": {"length": 2.0, "mass": 3.0, "time": 5.0}}


def _cells(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x, y, z = (rng.permutation(n) * 0.1 for _ in range(3))
    return {"x": x, "y": y, "z": z, "dx": np.full(n, 0.1), "level": np.ones(n, np.int32),
            "rho": rng.random(n), "sx": rng.random(n), "spc_0": rng.random(n)}


def test_snapshot_round_trip(tmp_path):
    cells = _cells()
    p = tmp_path / "snapshot_000007.h5"
    write_snapshot(p, 0.125, 7, CONFIG, cells, xdmf=True)
    s = read_snapshot(p)
    assert (s.time, s.step, s["step"]) == (0.125, 7, 7)
    assert s.config == CONFIG
    assert s.units == {"length": 2.0, "mass": 3.0, "time": 5.0}
    assert list(s.cells) == list(cells)
    # rows are stored in canonical (z, y, x) order: compare as sets of rows
    order = np.lexsort((cells["x"], cells["y"], cells["z"]))
    for k, v in cells.items():
        assert np.array_equal(s.cells[k], v[order]) and s.cells[k].dtype == v.dtype
    import xml.etree.ElementTree as ET
    root = ET.parse(tmp_path / "snapshot_000007.xdmf").getroot()
    names = [a.get("Name") for a in root.iter("Attribute")]
    assert names == ["dx", "level", "rho", "sx", "spc_0"]
    assert root.find(".//Time").get("Value") == "0.125"
    level = [a for a in root.iter("Attribute") if a.get("Name") == "level"][0][0]
    assert (level.get("NumberType"), level.get("Precision")) == ("Int", "4")


def test_snapshot_independent_of_row_order(tmp_path):
    cells = _cells()
    perm = np.random.default_rng(1).permutation(16)
    write_snapshot(tmp_path / "a.h5", 1.0, 1, CONFIG, cells)
    write_snapshot(tmp_path / "b.h5", 1.0, 1, CONFIG, {k: v[perm] for k, v in cells.items()})
    a, b = read_snapshot(tmp_path / "a.h5"), read_snapshot(tmp_path / "b.h5")
    assert all(np.array_equal(a.cells[k], b.cells[k]) for k in cells)


@pytest.mark.parametrize("keys", [[(1, 0, 0, 0), (1, 1, 0, 0)], [9, 10], ["a", "b"]])
def test_checkpoint_round_trip_bitwise(tmp_path, keys):
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal((6, 4, 4, 4)) for _ in keys]
    p = tmp_path / "ck.h5"
    t = 0.1 + 0.2   # not representable as a short decimal: must come back exactly
    write_checkpoint(p, t, 3, CONFIG, keys, arrays, {"next_output": 4})
    c = read_checkpoint(p)
    assert c.time == t and c.step == 3 and c.config == CONFIG and c.extra == {"next_output": 4}
    assert c.node_keys == keys
    assert all(np.array_equal(a, b) for a, b in zip(arrays, c.node_arrays))


def test_checkpoint_mixed_shapes_and_dicts(tmp_path):
    arrays = [np.arange(4.0), {"U": np.ones((2, 2)), "M": np.zeros(3)}]
    write_checkpoint(tmp_path / "c.h5", 0.0, 0, None, [(0, 0, 0, 0), (1, 0, 0, 0)], arrays)
    c = read_checkpoint(tmp_path / "c.h5")
    assert np.array_equal(c.node_arrays[0], arrays[0])
    assert set(c.node_arrays[1]) == {"U", "M"} and c.config is None


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    p = tmp_path / "checkpoint.h5"
    write_checkpoint(p, 1.0, 1, CONFIG, [1], [np.ones((2, 2))])
    before = p.read_bytes()
    real = h5py.Group.create_dataset

    def boom(self, name, *a, **kw):
        if name == "arrays":
            real(self, "partial", data=np.zeros(1000))
            raise OSError(28, "No space left on device")
        return real(self, name, *a, **kw)
    monkeypatch.setattr(h5py.Group, "create_dataset", boom)
    with pytest.raises(OSError, match="No space"):
        write_checkpoint(p, 2.0, 2, CONFIG, [1], [np.zeros((2, 2))])
    monkeypatch.undo()
    assert p.read_bytes() == before
    assert os.listdir(tmp_path) == ["checkpoint.h5"]      # no temporary file left behind
    c = read_checkpoint(p)
    assert c.step == 1 and np.array_equal(c.node_arrays[0], np.ones((2, 2)))


def test_unreadable_files_give_one_line_errors(tmp_path):
    bad = tmp_path / "garbage.h5"
    bad.write_bytes(b"not hdf5 at all" * 10)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.attrs["format"] = "something-else"
    snap = tmp_path / "snap.h5"
    write_snapshot(snap, 0.0, 0, CONFIG, _cells())
    truncated = tmp_path / "ck.h5"
    write_checkpoint(truncated, 0.0, 0, CONFIG, [1, 2], [np.ones(4096), np.ones(4096)])
    data = truncated.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    cases = [(read_snapshot, tmp_path / "missing.h5", "no such file"),
             (read_snapshot, tmp_path, "is a directory"),
             (read_snapshot, bad, "not a readable HDF5 snapshot"),
             (read_snapshot, other, "not an octosim snapshot"),
             (read_checkpoint, snap, "not an octosim checkpoint"),
             (read_checkpoint, truncated, "checkpoint")]
    for fn, path, needle in cases:
        with pytest.raises(SnapshotError) as ei:
            fn(path)
        msg = str(ei.value)
        assert needle in msg and str(path) in msg and "\n" not in msg, msg
