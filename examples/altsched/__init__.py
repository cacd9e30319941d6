"""altsched: a second, independent ParSync scheduler, written from the docs alone."""

from .adapter import parsync_adapter

__all__ = ["parsync_adapter"]
