"""A parcel: destination global id + action id + continuation + the archive of arguments.

``pack_route``/``unpack_route`` give the fixed-size routing header that travels in front of
the archive's frame 0 (HPX puts the action descriptor at the start of the first index chunk).
Transports add their own framing (sizes, tags) around it.
"""
import struct

__all__ = ["ROUTE_SIZE", "pack_route", "unpack_route", "F_NOREPLY", "F_INTERNAL"]

_ROUTE = struct.Struct("<HHiiqQQ")  # magic, flags, source, gid locality, gid lid, action id, continuation
ROUTE_SIZE = _ROUTE.size
_MAGIC = 0x504F  # "OP"

F_NOREPLY = 1   # fire-and-forget (apply)
F_INTERNAL = 2  # runtime bookkeeping (collectives used for termination detection): not counted


def pack_route(source, gid_locality, gid_lid, action_id, cont, flags=0):
    """Return the routing header; ``gid_locality < 0`` with lid 0 names the destination locality itself."""
    return _ROUTE.pack(_MAGIC, flags, source, gid_locality, gid_lid, action_id, cont)


def unpack_route(buf):
    """Return ``(flags, source, gid_locality, gid_lid, action_id, cont)``; ValueError if malformed."""
    if len(buf) < ROUTE_SIZE:
        raise ValueError(f"parcel route truncated: {len(buf)} < {ROUTE_SIZE} bytes")
    magic, flags, source, gl, lid, act, cont = _ROUTE.unpack_from(buf, 0)
    if magic != _MAGIC:
        raise ValueError(f"bad parcel magic 0x{magic:04x}")
    return flags, source, gl, lid, act, cont
