"""What every capture input must satisfy, as assertions the property tests share."""

from __future__ import annotations

from collections.abc import Sequence

from models.services.inputs import ActivityIn, QuarantineIn, SkippedIn

KINDS = (ActivityIn, SkippedIn, QuarantineIn)


def assert_kinds(items: Sequence[object]) -> None:
    """A non-empty list of activities, skips and quarantine items."""
    assert isinstance(items, list | tuple), type(items)
    assert items, "an input must end as something: got nothing"
    for item in items:
        assert isinstance(item, KINDS), f"not a capture input: {item!r}"[:300]


def assert_readable_reason(item: QuarantineIn | SkippedIn) -> None:
    """A reason with words in it (that the database can hold it: test_capture_property)."""
    assert isinstance(item.reason, str)
    assert sum(char.isalpha() for char in item.reason) >= 3, f"no reason: {item!r}"[:300]
