"""The one clock every date-bound rule reads.

Platform facts carry dates (Railway's config cutoff, App Runner's closure, the day a
price was read). A rule compares them with ``today()``, never with the calendar
directly, so its answer can be asked "as of" a day: ``STREAMDEPLOY_TODAY=2026-11-30
streamdeploy check``. The test suite pins it, so no test depends on the date it runs.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timezone

ENV = "STREAMDEPLOY_TODAY"


def today() -> date:
    """The day date-bound rules are judged on: $STREAMDEPLOY_TODAY, else the calendar's."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return date.today()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        from streamdeploy.problems import fail

        raise fail(f"{ENV}={raw!r} is not a date", key=ENV,
                   fix=f"set it as YYYY-MM-DD (e.g. {ENV}=2026-11-30), or unset it to use today's date") from None


def now() -> datetime:
    """The wall-clock instant, in UTC, for stamps (markers, records); never for rules."""
    return datetime.now(timezone.utc)
