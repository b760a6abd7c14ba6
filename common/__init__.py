"""tracksync: shared code of the top-level scripts."""

__version__ = "1.0.0"
