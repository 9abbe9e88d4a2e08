"""A small HPX-like task runtime: zero-copy chunked serialization, actions, futures, parcelports."""
from .actions import Action, action, apply, async_, async_cb
from .agas import Component, GlobalId, local_object, migrate, new, resolve
from .channels import channel_get, channel_set
from .collectives import all_gather, all_reduce, all_reduce_async, barrier, broadcast
from .core import computing, current, finalize, here, init, launcher_detected, localities
from .futures import (Future, Promise, RemoteError, dataflow, make_exceptional_future,
                      make_ready_future, when_all, when_any)
from .parcelport import available_parcelports, get_parcelport, register_parcelport
from .statistics import gather_statistics, statistics

__all__ = [
    "init", "finalize", "here", "localities", "current", "launcher_detected", "computing",
    "action", "Action", "async_", "async_cb", "apply",
    "Component", "GlobalId", "new", "resolve", "migrate", "local_object",
    "Future", "Promise", "RemoteError", "when_all", "when_any", "dataflow",
    "make_ready_future", "make_exceptional_future",
    "channel_get", "channel_set",
    "barrier", "broadcast", "all_reduce", "all_reduce_async", "all_gather",
    "statistics", "gather_statistics",
    "register_parcelport", "get_parcelport", "available_parcelports",
]
