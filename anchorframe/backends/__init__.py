"""Where browser sessions come from: local Chromium or Anchor Browser cloud sessions."""

from ._base import Backend, ProvisionFailure, SessionHandle, SessionPool
from .local import LocalBackend

__all__ = ["Backend", "LocalBackend", "ProvisionFailure", "SessionHandle", "SessionPool"]
