"""The serialization benchmark (``python -m runtime.benchmarks.serialization --quick``) run
for real: every payload against every baseline, and the byte counts behind its zero-copy claim."""
import json
import subprocess
import sys

from tests.mpiutil import REPO
from runtime.serialization import DEFAULT_THRESHOLD

LIBRARIES = {"pickle5", "pickle5-oob", "octosim", "octosim-copy"}


def test_serialization_benchmark_quick_counts_the_bytes_each_library_copies(tmp_path):
    out = tmp_path / "ser.json"
    res = subprocess.run([sys.executable, "-m", "runtime.benchmarks.serialization", "--quick",
                          "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    d = json.loads(out.read_text())
    assert d["meta"]["threshold"] == DEFAULT_THRESHOLD and d["meta"]["quick"] is True
    by = {}
    for r in d["results"]:
        by.setdefault(r["payload"], {})[r["library"]] = r
        assert r["encode_s"] > 0 and r["decode_s"] > 0 and r["archive_bytes"] > 0, r
    assert {"listing2", "record", "halo", "array-16MiB"} <= set(by)
    for payload, libs in by.items():
        assert LIBRARIES <= set(libs), payload
        assert libs["pickle5"]["time_vs_pickle"] == 1.0
        if not payload.startswith("array-"):
            continue
        nbytes = libs["octosim-copy"]["archive_bytes"]
        if nbytes >= DEFAULT_THRESHOLD + 1024:  # a pointer chunk: only the index data copied
            assert libs["octosim"]["bytes_copied"] < 1024 and libs["octosim"]["shares_memory"], payload
            assert libs["octosim-copy"]["bytes_copied"] >= nbytes - 1024, payload
            assert not libs["octosim-copy"]["shares_memory"], payload
        else:  # under the threshold the array is copied in, as by pickle
            assert libs["octosim"]["bytes_copied"] >= nbytes - 1024, payload
    copied = d["targets"]["pointer chunks: 0 payload bytes copied, decoded arrays share memory"]
    assert copied["ok"] is True
    assert "targets:" in res.stdout
