"""octosim.numba_cache: indexes older than the newest source are dropped, newer ones kept."""
import os

from octosim.numba_cache import drop_stale


def test_drop_stale_deletes_only_indexes_older_than_the_newest_source(tmp_path):
    old, new, src = tmp_path / "a.1.nbi", tmp_path / "b.1.nbi", tmp_path / "k.py"
    for p in (old, new, src):
        p.write_text("x")
    os.utime(old, (100, 100))
    os.utime(src, (200, 200))
    os.utime(new, (300, 300))
    drop_stale(str(tmp_path / "*.nbi"), [str(tmp_path / "*.py")])
    assert not old.exists() and new.exists() and src.exists()
    drop_stale(str(tmp_path / "*.nbi"), [str(tmp_path / "none*.py")])   # no sources: no-op
    assert new.exists()
