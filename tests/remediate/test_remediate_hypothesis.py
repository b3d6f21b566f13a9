"""Property tests (Hypothesis) of the remediation export's quoting: any text is refused or round-trips
exactly, and any tenant values give a script whose every line is one of the generator's own shapes."""

from __future__ import annotations

import pytest
from psmodel import read_single_quoted
from test_remediate_powershell import _full, _input, assert_injection_free

from auditor.remediate import powershell_script
from auditor.remediate.quote import UnsafeValue, ps_literal

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install -e '.[test]')")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NASTY = st.text(
    alphabet=st.sampled_from(
        [
            *"ab$()`'\"#<>;|&{}@=\n\r\t\x00 ",
            "\u2018",
            "\u2019",
            "\u201a",
            "\u201b",
            "\u201c",
            "\u201d",
            "\u202e",
            "\u2066",
            "\u2028",
            "\u0085",
            "é",
        ]
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(NASTY, st.text(max_size=40)))
def test_any_text_is_either_refused_or_quoted_exactly(value: str) -> None:
    try:
        literal = ps_literal(value)
    except UnsafeValue:
        return
    assert read_single_quoted(literal, 0) == (value, len(literal))
    assert "\n" not in literal and "`" not in literal and "$(" not in literal


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(NASTY, st.uuids().map(str)), st.one_of(NASTY, st.text(max_size=40))), min_size=1, max_size=4
    )
)
def test_any_tenant_values_give_an_injection_free_script(pairs: list[tuple[str, str]]) -> None:
    ids, names = [p[0] for p in pairs], [p[1] for p in pairs]
    assert_injection_free(powershell_script(_input(_full(ids, names))))
