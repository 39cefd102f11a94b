"""Sizes and durations: what people write in streamdeploy.yaml, and what targets receive."""

from __future__ import annotations

import pytest

from streamdeploy import units


@pytest.mark.parametrize("text,expected", [
    ("512MB", 512_000_000),
    ("1GB", 1_000_000_000),
    ("1gb", 1_000_000_000),
    (" 2 GB ", 2_000_000_000),
    ("1.5GB", 1_500_000_000),
    ("2GiB", 2 * 1024**3),
    ("512Mi", 512 * 1024**2),
    ("1Gi", 1024**3),
    ("10KB", 10_000),
    ("1TB", 1000**4),
    ("100B", 100),
    ("100", 100),
    (4096, 4096),
    (0, 0),
])
def test_parse_size(text, expected):
    assert units.parse_size(text) == expected


@pytest.mark.parametrize("value,fragment", [
    ("-1GB", "cannot be negative"),
    (-5, "cannot be negative"),
    ("1XB", "is not a size"),
    ("GB", "is not a size"),
    ("", "is not a size"),
    ("1 G B", "is not a size"),
    (True, "a number with a unit"),
    ([1], "a number with a unit"),
    (1.5, "a number with a unit"),  # a float of bytes is a mistake, not a size
])
def test_parse_size_rejects(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        units.parse_size(value)


@pytest.mark.parametrize("text,expected", [
    ("15s", 15.0),
    ("10m", 600.0),
    ("1h", 3600.0),
    ("1d", 86400.0),
    ("250ms", 0.25),
    ("1m30s", 90.0),
    ("1h 30m", 5400.0),
    ("0.5s", 0.5),
    (20, 20.0),
    (2.5, 2.5),
    (0, 0.0),
])
def test_parse_duration(text, expected):
    assert units.parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("value,fragment", [
    ("-5s", "cannot be negative"),
    (-1, "cannot be negative"),
    ("5x", "is not a duration"),
    ("15", "is not a duration"),  # a string without a unit: seconds or minutes? ask
    ("s", "is not a duration"),
    ("1m30", "is not a duration"),
    (False, "a number with a unit"),
    (None, "a number with a unit"),
])
def test_parse_duration_rejects(value, fragment):
    with pytest.raises(ValueError, match=fragment):
        units.parse_duration(value)


@pytest.mark.parametrize("n_bytes,text", [
    (1_000_000_000, "1GB"), (512_000_000, "512MB"), (20_000_000_000, "20GB"), (1000, "1KB"),
    (1024**3, "1GiB"), (3 * 1024**2, "3MiB"), (123, "123B"), (1_500_000_000, "1500MB"),
])
def test_format_size_round_trips(n_bytes, text):
    assert units.format_size(n_bytes) == text
    assert units.parse_size(text) == n_bytes


@pytest.mark.parametrize("seconds,text", [(15.0, "15s"), (600.0, "10m"), (3600.0, "1h"), (90.0, "90s"), (0.25, "250ms")])
def test_format_duration_round_trips(seconds, text):
    assert units.format_duration(seconds) == text
    assert units.parse_duration(text) == pytest.approx(seconds)


def test_platform_units_round_up_never_down():
    assert units.gigabytes(1) == 1
    assert units.gigabytes(1_000_000_000) == 1
    assert units.gigabytes(1_000_000_001) == 2
    assert units.megabytes(512_000_000) == 512
    assert units.megabytes(512_000_001) == 513
    assert units.mebibytes(512 * 1024**2) == 512
    assert units.mebibytes(512_000_000) == 489  # 512 MB is 488.3 MiB: rounded up, never less than asked


@pytest.mark.parametrize("text,expected", [("4.35TB", 4_350_000_000_000), ("999.999999999999TB", 999_999_999_999_999),
                                           ("1.1GiB", 1_181_116_006)])
def test_parse_size_is_exact_not_float_rounded(text, expected):
    assert units.parse_size(text) == expected
    assert units.format_size(units.parse_size("4.35TB")) == "4350GB"


@pytest.mark.parametrize("value", ["1001TB", 10**16, "9" * 5000 + "GB", pytest.param(10**5000, id="5,000 digits")])
def test_a_size_beyond_any_platform_is_refused_not_an_overflow(value):
    with pytest.raises(ValueError, match="at most 1PB"):
        units.parse_size(value)


@pytest.mark.parametrize("value", [float("inf"), "366d", pytest.param(10**5000, id="5,000 digits"),
                                   pytest.param("9" * 5000 + "s", id="5,000 digits s"), 1e300])
def test_a_duration_beyond_a_year_is_refused_not_an_overflow(value):
    with pytest.raises(ValueError, match="at most 365d"):
        units.parse_duration(value)


def test_nan_is_not_a_duration():
    with pytest.raises(ValueError, match="nan"):
        units.parse_duration(float("nan"))
