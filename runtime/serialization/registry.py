"""Per-type dispatch: encoders by Python type, decoders by wire tag, user types by name.

Builtins and numpy claim fixed one-byte tags (``wire.T_*``). A user type is registered
with a ``save(ar, obj)`` / ``load(ar) -> obj`` pair (the paper's Listing 1: no IDL, no
preprocessing) under a name, default ``module.qualname``; its wire id is 63 bits of the
name's BLAKE2b digest, so every process that registers the same name agrees on the
id whatever the import order.
"""
import dataclasses
import hashlib

from .errors import SerializationError
from .wire import MAX_DEPTH, T_EXT

ENCODERS = {}            # type -> fn(archive, obj)
DECODERS = [None] * 256  # tag -> fn(input_archive)
_SUBCLASS_BASES = []     # (base type, encoder) that also serve subclasses
_USER = {}               # type id -> (name, cls, load)
_NAMES = {}              # name -> type id


def register_tag(tag, types, encode, decode, subclasses=False):
    """Bind a fixed wire tag to its decoder and each type in ``types`` to ``encode``."""
    assert DECODERS[tag] is None or DECODERS[tag] is decode, f"tag {tag} taken"
    DECODERS[tag] = decode
    for tp in types:
        ENCODERS[tp] = encode
        if subclasses:
            _SUBCLASS_BASES.append((tp, encode))


def type_id(name):
    """Return the 63-bit wire id of a registered name (the same on every process)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def _ext_encoder(tid, save):
    def encode(ar, obj):
        ar.tags.append(T_EXT)
        ints = ar.ints
        ints.append(tid)
        at = len(ints)
        ints.append(0)
        start = len(ar.tags)
        depth = ar.depth = ar.depth + 1
        if depth > MAX_DEPTH:
            raise SerializationError(f"values nested deeper than {MAX_DEPTH} (cyclic?)")
        save(ar, obj)
        ar.depth = depth - 1
        ints[at] = len(ar.tags) - start

    return encode


def register(cls, save, load, *, name=None):
    """Register user type ``cls``: ``save(ar, obj)`` writes it, ``load(ar)`` rebuilds it.

    ``save`` may call ``ar.write(value)``, ``ar.save_binary(buffer)``,
    ``ar.write_pointer_chunk(buffer)`` and ``ar.write_rma_chunk(buffer, key)``; ``load``
    reads the same back in the same order with ``ar.read()``, ``ar.load_binary()`` and
    ``ar.read_rma_chunk()``. Returns ``cls``. A name already bound to another class, or
    a name whose id collides with another name's, is a ValueError.
    """
    name = name or f"{cls.__module__}.{cls.__qualname__}"
    tid = type_id(name)
    old = _USER.get(tid)
    if old is not None and (old[0] != name or old[1] is not cls):
        raise ValueError(f"serialization name {name!r} (id {tid:#x}) already taken by {old[1]!r}")
    _USER[tid] = (name, cls, load)
    _NAMES[name] = tid
    ENCODERS[cls] = _ext_encoder(tid, save)
    return cls


def serializable(cls=None, *, name=None):
    """Register a dataclass field by field (decorator, with or without ``name=``).

    Decoding makes the instance with ``cls.__new__`` and sets every field (``__init__``
    and ``__post_init__`` do not run, as with pickle).
    """
    def wrap(c):
        if not dataclasses.is_dataclass(c):
            raise TypeError(f"@serializable needs a dataclass, got {c!r}")
        names = tuple(f.name for f in dataclasses.fields(c))

        def save(ar, obj):
            write = ar.write
            for n in names:
                write(getattr(obj, n))

        def load(ar):
            obj = c.__new__(c)
            read = ar.read
            for n in names:
                object.__setattr__(obj, n, read())
            return obj

        return register(c, save, load, name=name)

    return wrap if cls is None else wrap(cls)


def encoder_for(tp):
    """Return the encoder for type ``tp``; TypeError if none is registered."""
    enc = ENCODERS.get(tp)
    if enc is not None:
        return enc
    for base, enc in _SUBCLASS_BASES:
        if issubclass(tp, base):
            ENCODERS[tp] = enc
            return enc
    raise TypeError(f"no serializer registered for type {tp.__module__}.{tp.__qualname__}; "
                    "use runtime.serialization.register or @serializable")


def user_entry(tid):
    """Return ``(name, cls, load)`` for a wire type id; SerializationError if unknown."""
    entry = _USER.get(tid)
    if entry is None:
        raise SerializationError(f"unknown type id {tid:#018x} (type not registered here)")
    return entry


def _dec_ext(ia):
    name, cls, load = user_entry(ia.next_int())
    ntags = ia.next_int()
    left = ia.tags_left()
    if not 0 <= ntags <= left:
        raise SerializationError(f"{name}: {ntags} values claimed, {left} left")
    depth = ia.depth = ia.depth + 1
    if depth > MAX_DEPTH:
        raise SerializationError(f"values nested deeper than {MAX_DEPTH}")
    obj = load(ia)
    if left - ia.tags_left() != ntags:
        raise SerializationError(f"{name}: loader read {left - ia.tags_left()} of {ntags} values")
    ia.depth = depth - 1
    return obj


DECODERS[T_EXT] = _dec_ext
