"""Human units in the description: sizes like ``512MB`` and durations like ``15s``.

Sizes are stored as bytes, durations as seconds, so targets never parse strings.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

# Far above any disk or memory a platform sells, and any wait worth configuring; beyond
# them a value is a typo, and the arithmetic on it (floats, GB rounding) overflows.
MAX_SIZE = 1000**5  # 1 PB
MAX_DURATION = 365 * 86400.0  # a year

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
    # Kubernetes-style suffixes, so values copied from a manifest work too.
    "k": 1000,
    "m": 1000**2,
    "g": 1000**3,
    "ki": 1024,
    "mi": 1024**2,
    "gi": 1024**3,
}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}

SIZE_PATTERN = r"^\s*\d+(\.\d+)?\s*([kKmMgGtT]i?[bB]?|[bB])?\s*$"
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d))+\s*$"

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_size(value: object) -> int:
    """``"1GB"`` -> 1_000_000_000. Plain integers are bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number with a unit, like 512MB or 1GB")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a size cannot be negative")
        return _bounded_size(value, value)
    if not isinstance(value, str):
        raise ValueError("a size is a number with a unit, like 512MB or 1GB")
    text = value.strip()
    if text.startswith("-"):
        raise ValueError(f"a size cannot be negative: {value!r}")
    match = _SIZE_RE.match(text)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _SIZE_UNITS:
        raise ValueError(f"{value!r} is not a size: write a number and one of MB, GB, MiB, GiB (e.g. 512MB, 1GB)")
    # Exact decimal arithmetic: a float makes 4.35TB 4349999999999 bytes.
    return _bounded_size(int(Decimal(match.group(1)) * _SIZE_UNITS[unit]), value)


def _bounded_size(n_bytes: int, value: object) -> int:
    if n_bytes > MAX_SIZE:
        raise ValueError(f"{_short(value)} is more than any platform offers: a size is at most 1PB")
    return n_bytes


def _short(value: object) -> str:
    if isinstance(value, int) and value >= 10**30:  # str() of thousands of digits is refused
        return f"a number of about {int(value.bit_length() * math.log10(2)) + 1:,} digits"
    text = repr(value)
    return text if len(text) < 40 else text[:37] + "..."


def parse_duration(value: object) -> float:
    """``"1m30s"`` -> 90.0. Plain numbers are seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number with a unit, like 15s, 10m or 1h")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isnan(value):
            raise ValueError("a duration is a number of seconds, not .nan")
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return _bounded_duration(value, value)
    if not isinstance(value, str):
        raise ValueError("a duration is a number with a unit, like 15s, 10m or 1h")
    text = value.strip().replace(" ", "")
    if text.startswith("-"):
        raise ValueError(f"a duration cannot be negative: {value!r}")
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration: write a number and s, m or h (e.g. 15s, 10m, 1h)")
    # Decimal: a part of thousands of digits is out of bounds, not a float overflow.
    total = sum(Decimal(number) * Decimal(str(_DURATION_UNITS[unit])) for number, unit in parts)
    return _bounded_duration(total, value)


def _bounded_duration(seconds: int | float | Decimal, value: object) -> float:
    if seconds > MAX_DURATION:  # .inf too
        raise ValueError(f"{_short(value)} is longer than a year: a duration is at most 365d")
    return float(seconds)


def format_size(n_bytes: int) -> str:
    """The shortest exact decimal spelling: 1000000000 -> ``1GB``."""
    for unit, factor in (("TB", 1000**4), ("GB", 1000**3), ("MB", 1000**2), ("KB", 1000)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2)):
        if n_bytes >= factor and n_bytes % factor == 0:
            return f"{n_bytes // factor}{unit}"
    return f"{n_bytes}B"


def format_duration(seconds: float) -> str:
    """90.0 -> ``90s``; 600.0 -> ``10m``; 3600 -> ``1h``."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{int(seconds // 3600)}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{int(seconds // 60)}m"
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{int(seconds * 1000)}ms"


def gigabytes(n_bytes: int) -> int:
    """Whole GB for platforms that size disks in GB, rounded up (never smaller than asked)."""
    return max(1, -(-n_bytes // 1000**3))


def megabytes(n_bytes: int) -> int:
    """Whole MB, rounded up."""
    return max(1, -(-n_bytes // 1000**2))


def mebibytes(n_bytes: int) -> int:
    """Whole MiB, rounded up (Fly and Kubernetes think in MiB)."""
    return max(1, -(-n_bytes // 1024**2))
