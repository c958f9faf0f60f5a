"""Schedule evaluation in the site's timezone, and anti-passback state."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from edge.access.config import WEEK, Schedule, TimeWindow
from protocol.events import Direction


def _window_contains(window: TimeWindow, local: datetime) -> bool:
    """Whether a local wall-clock moment lies in a window; overnight windows belong to the day they start on."""
    day = WEEK[local.weekday()]
    previous = WEEK[(local.weekday() - 1) % 7]
    moment = local.time().replace(tzinfo=None)
    if window.start == window.end:
        return day in window.days
    if window.start < window.end:
        return day in window.days and window.start <= moment < window.end
    return (day in window.days and moment >= window.start) or (previous in window.days and moment < window.end)


def in_schedule(schedule: Schedule, now: datetime, timezone: ZoneInfo) -> bool:
    """Whether an aware moment falls into any window of a schedule, read in `timezone`."""
    if now.tzinfo is None:
        raise ValueError("schedules need a timezone-aware time")
    local = now.astimezone(timezone)
    return any(_window_contains(window, local) for window in schedule.windows)


class AntiPassback:
    """Who is inside: an entry by someone already inside is refused; exits are always allowed (egress)."""

    def __init__(self, reset_s: float | None = 43200.0) -> None:
        self.reset = None if reset_s is None else timedelta(seconds=reset_s)
        self._inside: dict[str, datetime] = {}

    def allows(self, key: str, direction: Direction, now: datetime) -> bool:
        """Whether this passage is allowed: no second entry without an exit (until the reset time)."""
        if direction is Direction.OUT:
            return True
        entered = self._inside.get(key)
        return entered is None or (self.reset is not None and now - entered >= self.reset)

    def record(self, key: str, direction: Direction, now: datetime) -> None:
        """Note a granted passage."""
        if direction is Direction.IN:
            self._inside[key] = now
        else:
            self._inside.pop(key, None)

    def inside(self) -> int:
        """How many keys are currently marked inside."""
        return len(self._inside)
