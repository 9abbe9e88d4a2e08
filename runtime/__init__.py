"""A small HPX-like task runtime: zero-copy chunked serialization, actions, futures, parcelports."""
