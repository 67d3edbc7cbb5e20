"""Reports (SPEC §7): what each report says (`context`), how it reads (`render`), and how a long
one is cut into posts (`parts`)."""

from __future__ import annotations

from stagecast.reports.context import DailyUpdate, daily_update_context
from stagecast.reports.parts import pack_sections
from stagecast.reports.render import join_sections, render_report, split_sections

__all__ = [
    "DailyUpdate",
    "daily_update_context",
    "join_sections",
    "pack_sections",
    "render_report",
    "split_sections",
]
