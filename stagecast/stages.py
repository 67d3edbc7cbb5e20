"""Which stage each task belongs to (SPEC §3 "Stages")."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from stagecast.models import StagePlan, Task
from stagecast.slug import slugify


def discover_stages(tasks: Iterable[Task], stage_dues: Mapping[str, date]) -> list[StagePlan]:
    """Without configured stages: the distinct first stage values, in order of first appearance."""
    plans: list[StagePlan] = []
    seen: set[str] = set()
    keys: set[str] = set()
    for task in tasks:
        if not task.stage_values or task.stage_values[0] in seen:
            continue
        value = task.stage_values[0]
        seen.add(value)
        key = unique_key(slugify(value), keys)
        plans.append(StagePlan(name=value, key=key, match=value, due=stage_dues.get(value)))
    return plans


def unique_key(key: str, taken: set[str]) -> str:
    """Two stage names can slug alike ("UAT" and "uat"): number the later ones."""
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}-{n}", n + 1
    taken.add(candidate)
    return candidate


def assign_stages(
    tasks: Iterable[Task], plans: Sequence[StagePlan], *, configured: bool
) -> tuple[Task, ...]:
    """Put each task in its stage: the first configured stage it matches, or its first value's."""
    by_match: dict[str, str] = {}
    for plan in plans:
        by_match.setdefault(plan.match, plan.name)
    return tuple(
        dataclasses.replace(task, stage=_stage_of(task, by_match, configured)) for task in tasks
    )


def _stage_of(task: Task, by_match: Mapping[str, str], configured: bool) -> str | None:
    """Configured stages are tried in config order; discovered ones use the first value only."""
    if not configured:
        return by_match.get(task.stage_values[0]) if task.stage_values else None
    for match, name in by_match.items():
        if match in task.stage_values:
            return name
    return None
