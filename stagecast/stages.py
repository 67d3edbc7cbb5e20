"""Which stage each task belongs to (SPEC §3 "Stages")."""

from __future__ import annotations

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
    """Put each task in its stage: the first configured stage it matches, or its first value's.

    Linear in the tasks: each task looks up only its own values, never scans the stages.
    """
    by_match: dict[str, str] = {}
    for plan in plans:
        by_match.setdefault(plan.match, plan.name)
    rank = {match: n for n, match in enumerate(by_match)}
    return tuple(with_stage(task, _stage_of(task, by_match, rank, configured)) for task in tasks)


def _stage_of(
    task: Task, by_match: Mapping[str, str], rank: Mapping[str, int], configured: bool
) -> str | None:
    """Configured stages are tried in config order (the matched value of lowest rank wins);
    discovered ones use the first value only."""
    values = task.stage_values
    if not values:
        return None
    if not configured:
        return by_match.get(values[0])
    matched = [value for value in values if value in rank]
    return by_match[min(matched, key=rank.__getitem__)] if matched else None


def with_stage(task: Task, stage: str | None) -> Task:
    """The task in `stage`: itself when it is there already (a task carried from the previous
    snapshot), else a copy made by the constructor, which costs half of what
    `dataclasses.replace` does (it adds up at tens of thousands of tasks a sync)."""
    if task.stage == stage:
        return task
    return Task(**{**task.__dict__, "stage": stage})
