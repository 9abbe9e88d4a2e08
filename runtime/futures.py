"""Futures, promises and their combinators (HPX's future, then, when_all, when_any, dataflow).

A Future is completed once, from any thread.  Waiting goes through a hook that the running
runtime installs, so a thread blocked in ``get()`` keeps the parcelport and the task queue
moving (HPX suspends the task instead; Python threads cannot, so they help).  Every wait has
a timeout: ``get()`` without one uses ``DEFAULT_TIMEOUT`` seconds and raises TimeoutError.
"""
import os
import threading

__all__ = ["Future", "Promise", "RemoteError", "make_ready_future", "make_exceptional_future",
           "when_all", "when_any", "dataflow", "DEFAULT_TIMEOUT"]

DEFAULT_TIMEOUT = float(os.environ.get("OCTOSIM_TIMEOUT", "300"))

_PENDING, _VALUE, _ERROR = 0, 1, 2

# Installed by the runtime: wait(future, timeout) -> None, returns when done or timeout passed.
_wait_hook = None
# Installed by the runtime: submit(fn, *args) runs continuations on worker threads.
_submit_hook = None


class RemoteError(RuntimeError):
    """An exception raised by an action on another locality; carries the remote traceback text."""

    def __init__(self, message, locality=None, remote_traceback=""):
        super().__init__(message)
        self.locality = locality
        self.remote_traceback = remote_traceback

    def __str__(self):
        head = super().__str__()
        if self.remote_traceback:
            return f"{head}\n--- remote traceback (locality {self.locality}) ---\n{self.remote_traceback}"
        return head


class Future:
    """The eventual result of an asynchronous operation."""

    __slots__ = ("_lock", "_event", "_state", "_result", "_callbacks", "__weakref__")

    def __init__(self):
        self._lock = threading.Lock()
        self._event = None  # made by the first thread that waits
        self._state = _PENDING
        self._result = None
        self._callbacks = []

    def _get_event(self):
        """Return an Event set on completion (created on demand: most futures never block)."""
        with self._lock:
            if self._event is None:
                self._event = threading.Event()
                if self._state != _PENDING:
                    self._event.set()
            return self._event

    def done(self):
        """Return True once a value or an exception is set."""
        return self._state != _PENDING

    is_ready = done

    def has_exception(self):
        return self._state == _ERROR

    def _complete(self, state, result):
        with self._lock:
            if self._state != _PENDING:
                raise RuntimeError("future already satisfied")
            self._state, self._result = state, result
            callbacks, self._callbacks = self._callbacks, None
            ev = self._event
        if ev is not None:
            ev.set()
        for cb in callbacks:
            cb(self)

    def wait(self, timeout=None):
        """Block until done; return False if ``timeout`` seconds passed first."""
        if self._state != _PENDING:
            return True
        timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        if _wait_hook is not None:
            _wait_hook(self, timeout)
        else:
            self._get_event().wait(timeout)
        return self._state != _PENDING

    def get(self, timeout=None):
        """Return the value, raising the stored exception; TimeoutError after ``timeout`` s."""
        if self._state == _PENDING and not self.wait(timeout):
            raise TimeoutError(f"future not ready after {DEFAULT_TIMEOUT if timeout is None else timeout} s")
        if self._state == _ERROR:
            raise self._result
        return self._result

    result = get

    def exception(self, timeout=None):
        """Return the stored exception or None."""
        self.wait(timeout)
        return self._result if self._state == _ERROR else None

    def add_done_callback(self, fn):
        """Call ``fn(self)`` once done (immediately, in this thread, if already done)."""
        with self._lock:
            if self._state == _PENDING:
                self._callbacks.append(fn)
                return
        fn(self)

    def then(self, fn, inline=False):
        """Return a future of ``fn(self)``, run on a worker once this one is done."""
        out = Future()

        def run(_):
            try:
                r = fn(self)
            except BaseException as e:  # noqa: BLE001 - goes into the future
                out._complete(_ERROR, e)
                return
            _forward(r, out)

        def schedule(_):
            if inline or _submit_hook is None:
                run(None)
            else:
                _submit_hook(run, None)

        self.add_done_callback(schedule)
        return out

    def __repr__(self):
        s = {_PENDING: "pending", _VALUE: "value", _ERROR: "error"}[self._state]
        return f"<Future {s}>"


def _forward(r, out):
    """Complete ``out`` with ``r``, unwrapping a returned future."""
    if isinstance(r, Future):
        r.add_done_callback(lambda f: out._complete(f._state, f._result))
    else:
        out._complete(_VALUE, r)


class Promise:
    """The writing end of a future."""

    __slots__ = ("future",)

    def __init__(self):
        self.future = Future()

    def get_future(self):
        return self.future

    def set_value(self, value=None):
        self.future._complete(_VALUE, value)

    def set_exception(self, exc):
        self.future._complete(_ERROR, exc)


def make_ready_future(value=None):
    f = Future()
    f._complete(_VALUE, value)
    return f


def make_exceptional_future(exc):
    f = Future()
    f._complete(_ERROR, exc)
    return f


def when_all(*futures):
    """Return a future of the list of input futures, ready when all of them are."""
    if len(futures) == 1 and not isinstance(futures[0], Future):
        futures = tuple(futures[0])
    futures = list(futures)
    out = Future()
    if not futures:
        out._complete(_VALUE, [])
        return out
    remaining = [len(futures)]
    lock = threading.Lock()

    def one(_):
        with lock:
            remaining[0] -= 1
            last = remaining[0] == 0
        if last:
            out._complete(_VALUE, futures)

    for f in futures:
        f.add_done_callback(one)
    return out


def when_any(*futures):
    """Return a future of ``(index, futures)`` ready when the first input is."""
    if len(futures) == 1 and not isinstance(futures[0], Future):
        futures = tuple(futures[0])
    futures = list(futures)
    out = Future()
    fired = [False]
    lock = threading.Lock()

    def make(i):
        def one(_):
            with lock:
                if fired[0]:
                    return
                fired[0] = True
            out._complete(_VALUE, (i, futures))
        return one

    for i, f in enumerate(futures):
        f.add_done_callback(make(i))
    return out


def dataflow(fn, *args):
    """Return a future of ``fn(*values)`` run once every future among ``args`` is ready.

    Futures in ``args`` are replaced by their values (HPX's ``dataflow(unwrapping(fn), ...)``);
    the first exceptional input becomes the result's exception.
    """
    deps = [a for a in args if isinstance(a, Future)]

    def call(_):
        vals = [a.get(0) if isinstance(a, Future) else a for a in args]
        return fn(*vals)

    return when_all(deps).then(call)
