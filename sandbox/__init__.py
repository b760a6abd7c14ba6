"""Local stand-in servers that behave like the real Gitea and Kimai APIs, traps and faults
included. Start with ``Sandbox().start()`` or ``python -m sandbox``."""

from sandbox.hub import Sandbox

__all__ = ["Sandbox"]
