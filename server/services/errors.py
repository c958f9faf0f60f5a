"""Errors the services raise; the API maps each to one HTTP status."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of the services' errors."""

    status = 400


class Forbidden(ServiceError):
    """The caller's role or scope does not allow this."""

    status = 403


class NotFound(ServiceError):
    """No such object (or not visible to the caller)."""

    status = 404


class Conflict(ServiceError):
    """The request clashes with the current state (duplicate, already revoked...)."""

    status = 409


class InvalidInput(ServiceError):
    """A value fails validation; the message names the field."""

    status = 422


class Unavailable(ServiceError):
    """A part the request needs (broker, face models) is not available."""

    status = 503
