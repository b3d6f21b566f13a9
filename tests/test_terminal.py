"""Untrusted text is made safe for a terminal."""

from auditor.terminal import clean


def test_control_and_bidi_characters_are_replaced() -> None:
    assert clean("evil\x1b[2J\u202ename") == "evil?[2J?name"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    assert clean("x" * 100, width=10) == "x" * 9 + "…"
