"""Errors raised by the protocol package; each carries a short machine-readable reason."""

from __future__ import annotations


class ProtocolError(ValueError):
    """A message or topic that breaks the contract; `reason` is a stable code for counting."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class TopicError(ProtocolError):
    """A topic that cannot be built or parsed."""

    def __init__(self, detail: str) -> None:
        super().__init__("bad_topic", detail)
