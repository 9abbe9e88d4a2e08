"""Progress: a redrawn bar on a terminal, a line every few steps otherwise, silence if quiet."""

import io

from octosim.progress import Progress


def _feed(p, steps=6):
    p.begin(0.0, 0)
    for s in range(1, steps + 1):
        p.update(0.1 * s, s, dt=0.1, leaves=8)
    p.finish()


def test_lines_when_not_a_terminal():
    out = io.StringIO()
    _feed(Progress(stop_step=6, every=2, stream=out, tty=False))
    lines = out.getvalue().splitlines()
    assert [ln.split()[1] for ln in lines] == ["2", "4", "6"]
    assert "100.0%" in lines[-1] and "\r" not in out.getvalue()


def test_bar_on_a_terminal():
    out = io.StringIO()
    _feed(Progress(stop_time=0.6, stream=out, tty=True))
    text = out.getvalue()
    assert text.startswith("\r[") and text.endswith("\n") and "100.0%" in text


def test_quiet_prints_nothing():
    out = io.StringIO()
    _feed(Progress(stop_step=6, every=1, stream=out, tty=False, quiet=True))
    assert out.getvalue() == ""
