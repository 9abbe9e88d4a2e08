"""SerializeBuffer: a buffer passed by reference (paper, section 3.2)."""
import numpy as np

from .archive import POINTER
from .arrays import _dec_ndarray, _dec_ndchunk, _enc_ndarray
from .errors import SerializationError
from .lean import register_buffer_type
from .registry import register, register_tag
from .wire import T_NDARRAY, T_NDCHUNK, T_SBUF


class SerializeBuffer:
    """Wrap a contiguous buffer by reference so it travels as a pointer chunk.

    The wrapper holds a reference to ``data`` (shared ownership: the memory lives while
    either the caller or an archive holds it) and never copies it. At or above the
    zero-copy threshold it always becomes a pointer chunk; below it, it is copied inline
    like any small buffer. A numpy array keeps its dtype and shape; any other buffer is
    seen as bytes. It decodes to a SerializeBuffer over the received buffer itself.
    Do not modify ``data`` until the send has completed.
    """

    __slots__ = ("data", "array")

    def __init__(self, data):
        if isinstance(data, SerializeBuffer):
            data = data.data
        if isinstance(data, np.ndarray):
            if not data.flags.c_contiguous:
                raise ValueError("SerializeBuffer needs a C-contiguous array")
            if data.dtype.hasobject:
                raise TypeError("SerializeBuffer cannot hold Python objects")
            array = data
        else:
            try:
                array = np.frombuffer(data, dtype=np.uint8)
            except BufferError as exc:
                raise ValueError(f"SerializeBuffer needs a contiguous buffer: {exc}") from exc
        self.data = data
        self.array = array

    @property
    def nbytes(self):
        """Size in bytes."""
        return self.array.nbytes

    def __len__(self):
        return self.array.nbytes

    def memoryview(self):
        """Return a flat byte view of the wrapped memory."""
        return memoryview(self.array.reshape(-1).view(np.uint8))

    def __bytes__(self):
        return self.array.tobytes()

    def __eq__(self, other):
        if isinstance(other, SerializeBuffer):
            return (self.array.dtype == other.array.dtype
                    and self.array.shape == other.array.shape
                    and self.memoryview() == other.memoryview())
        return NotImplemented

    __hash__ = None

    def __repr__(self):
        return f"SerializeBuffer({self.nbytes} bytes, {self.array.dtype}, {self.array.shape})"


def _save(ar, sb):
    ar.save_binary(sb.array)


def _load(ar):
    return SerializeBuffer(ar.load_binary())


register(SerializeBuffer, _save, _load, name="runtime.serialization.SerializeBuffer")
_new = object.__new__


def _enc_sbuf(ar, sb):
    ar.tags.append(T_SBUF)
    a = sb.array
    if a.nbytes >= ar.threshold:     # C-contiguous by construction: always a pointer chunk
        ar._chunks.append((POINTER, a, None, False))
        ar.tags.append(T_NDCHUNK)
        ar.ints.append(0)
    else:
        _enc_ndarray(ar, a)


def _dec_sbuf(ia):
    tag = ia.next_tag()
    if tag == T_NDARRAY:
        arr = _dec_ndarray(ia)
    elif tag == T_NDCHUNK:
        arr = _dec_ndchunk(ia)
    else:
        raise SerializationError(f"SerializeBuffer holds tag {tag}, not an array")
    if not arr.flags.c_contiguous:
        raise SerializationError("SerializeBuffer array is not C-contiguous")
    sb = _new(SerializeBuffer)
    sb.data = sb.array = arr
    return sb


# its own tag (the registration above still reads messages that name the type)
register_tag(T_SBUF, [SerializeBuffer], _enc_sbuf, _dec_sbuf)


def _wrap(arr):
    sb = _new(SerializeBuffer)
    sb.data = sb.array = arr
    return sb


register_buffer_type(SerializeBuffer, _wrap)
