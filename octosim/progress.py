"""Progress of a run: a bar on a terminal, one line every few steps otherwise."""

import sys
import time as _time


def _fraction(t, step, stop_time, stop_step, t0, step0):
    fr = 0.0
    if stop_time:
        fr = max(fr, (t - t0) / max(stop_time - t0, 1e-300))
    if stop_step:
        fr = max(fr, (step - step0) / max(stop_step - step0, 1))
    return min(max(fr, 0.0), 1.0)


def _eta(elapsed, fr):
    if fr <= 0.0 or fr >= 1.0:
        return "--:--"
    s = int(elapsed * (1.0 - fr) / fr)
    return f"{s // 60:02d}:{s % 60:02d}" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}"


class Progress:
    """Report steps to ``stream``: a redrawn bar if it is a terminal, else a line every
    ``every`` steps; nothing at all when ``quiet``."""

    def __init__(self, stop_time=None, stop_step=None, every=10, stream=None, quiet=False,
                 tty=None, width=30):
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty() if tty is None else tty
        self.stop_time, self.stop_step, self.every, self.width = stop_time, stop_step, every, width
        self.t0 = self.step0 = None
        self.start = _time.perf_counter()
        self._last_draw = 0.0
        self._drawn = False

    def begin(self, t, step):
        """Remember where the run starts (a restart starts part way)."""
        self.t0, self.step0 = t, step
        self.start = _time.perf_counter()

    def update(self, t, step, dt=None, leaves=None):
        """Report that ``step`` finished at simulated time ``t``."""
        if self.quiet:
            return
        if self.t0 is None:
            self.begin(0.0, 0)
        now = _time.perf_counter()
        elapsed = now - self.start
        fr = _fraction(t, step, self.stop_time, self.stop_step, self.t0, self.step0)
        extra = (f" dt={dt:.3e}" if dt is not None else "") + \
                (f" leaves={leaves}" if leaves is not None else "")
        if self.tty:
            if now - self._last_draw < 0.1 and fr < 1.0:
                return
            self._last_draw = now
            n = int(round(fr * self.width))
            bar = "#" * n + "-" * (self.width - n)
            self.stream.write(f"\r[{bar}] {100 * fr:5.1f}% step {step} t={t:.4e}{extra} "
                              f"eta {_eta(elapsed, fr)} ")
            self._drawn = True
        elif (step - self.step0) % self.every == 0:
            self.stream.write(f"step {step:6d}  t={t:.6e}{extra}  {100 * fr:5.1f}%  "
                              f"elapsed {elapsed:.1f}s\n")
        self.stream.flush()

    def finish(self):
        """End the bar's line on a terminal."""
        if self._drawn and not self.quiet:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False
