"""Errors of the access-control layer: every library failure leaves it as one of these."""

from __future__ import annotations


class AccessError(Exception):
    """Base of every access-control error."""


class AccessConfigError(AccessError):
    """An access configuration is invalid; the message names the file and field."""


class CredentialFormatError(AccessError):
    """A credential could not be parsed (bad Wiegand frame, bad PIN hash, bad card line)."""


class PassError(AccessError):
    """A visitor pass was refused; `reason` is the stable reason code for events."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class PassKeyError(AccessError):
    """A pass signing or verification key could not be loaded."""
