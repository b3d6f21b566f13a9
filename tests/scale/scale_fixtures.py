"""Helpers shared by the scale tests (imported by name: test dirs have no __init__.py)."""

from __future__ import annotations


class FakeClock:
    """A naive-UTC clock the test moves by hand."""

    def __init__(self, start):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        from datetime import timedelta

        self.now = self.now + timedelta(seconds=seconds)
