"""Work to do once a transaction has committed (send commands, wake the sync loop)."""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable

from sqlalchemy import Connection

log = logging.getLogger(__name__)
_pending: weakref.WeakKeyDictionary[Connection, list[Callable[[], object]]] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def after_commit(connection: Connection, action: Callable[[], object]) -> None:
    """Run `action` after the API's transaction on this connection commits (never if it rolls back)."""
    with _lock:
        _pending.setdefault(connection, []).append(action)


def discard(connection: Connection) -> None:
    """Forget the actions of a rolled-back transaction."""
    with _lock:
        _pending.pop(connection, None)


def run_after_commit(connection: Connection) -> None:
    """Run and clear the actions registered on a committed connection; failures are logged."""
    with _lock:
        actions = _pending.pop(connection, [])
    for action in actions:
        try:
            action()
        except Exception:  # noqa: BLE001 - the commit stands; a failed follow-up is retried by the sync loop
            log.exception("after-commit action failed")
