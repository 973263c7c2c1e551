"""OneTask: a real-time task backend."""

__version__ = "0.1.0"
