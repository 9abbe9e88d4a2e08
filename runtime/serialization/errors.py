"""The one exception that decoding raises."""


class SerializationError(ValueError):
    """Raise for a message that cannot be decoded: malformed, truncated, hostile or unknown.

    Decoding (``loads``, ``decode_header``, ``Header.allocate``, ``Header.finish``) raises
    this and nothing else for bad input; the original cause, if any, is ``__cause__``.
    Encoding raises it for values nested deeper than ``MAX_DEPTH`` (e.g. a cyclic list).
    """
