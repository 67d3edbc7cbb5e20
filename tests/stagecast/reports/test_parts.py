"""Long reports are cut into posts at section boundaries (SPEC §8)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stagecast.reports.parts import pack_sections, utf8_size


def test_sections_are_packed_whole_and_in_order() -> None:
    sections = ["# 标题", "## A\n" + "a" * 20, "## B\n" + "b" * 20, "## C"]
    assert pack_sections(sections, 1000) == ["\n\n".join(sections)]
    parts = pack_sections(sections, 40)
    assert parts == ["# 标题\n\n## A\n" + "a" * 20, "## B\n" + "b" * 20 + "\n\n## C"]


def test_bytes_are_counted_in_utf8() -> None:
    assert utf8_size("阶段") == 6
    assert pack_sections(["阶段", "进度"], 12) == ["阶段", "进度"]
    assert pack_sections(["阶段", "进度"], 14) == ["阶段\n\n进度"]


def test_a_section_too_long_is_cut_at_lines_then_characters() -> None:
    section = "## Long\n" + "\n".join(f"- line {i}" for i in range(10))
    parts = pack_sections([section], 30)
    assert all(utf8_size(p) <= 30 for p in parts)
    assert "\n".join(parts) == section
    assert pack_sections(["x" * 25], 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        pack_sections(["a"], 0)


@given(
    st.lists(st.text(st.sampled_from("ab阶\n #"), min_size=1), min_size=1),
    st.integers(min_value=4, max_value=60),
)
def test_every_part_fits_and_nothing_is_lost(sections: list[str], limit: int) -> None:
    parts = pack_sections(sections, limit)
    assert all(0 < utf8_size(p) <= limit for p in parts)
    squeeze = str.maketrans("", "", "\n")
    assert "".join(parts).translate(squeeze) == "".join(sections).translate(squeeze)
