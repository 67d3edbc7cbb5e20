"""Stage assignment (SPEC §3): configured stages in config order, or discovered ones."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stagecast.models import StagePlan
from stagecast.progress import project_progress
from stagecast.slug import slugify
from stagecast.stages import assign_stages, discover_stages
from tests.builders import day, task


def test_configured_stage_is_the_first_in_config_order_that_matches_any_value():
    plans = [StagePlan("Design", "design", "v1-design"), StagePlan("Build", "build", "v1-build")]
    tasks = [
        task("A", stage_values=("v1-build", "v1-design")),  # config order wins, not the task's
        task("B", stage_values=("other", "v1-build")),
        task("C", stage_values=("other",)),
        task("D"),
    ]
    assigned = assign_stages(tasks, plans, configured=True)
    assert [t.stage for t in assigned] == ["Design", "Build", None, None]


def test_discovered_stages_in_order_of_first_appearance_first_value_only():
    tasks = [
        task("A", stage_values=("Build", "Design")),
        task("B", stage_values=("Design",)),
        task("C"),
        task("D", stage_values=("Build",)),
    ]
    plans = discover_stages(tasks, {"Design": day("2026-12-01")})
    assert [(p.name, p.key, p.due) for p in plans] == [
        ("Build", "build", None),
        ("Design", "design", day("2026-12-01")),
    ]
    assigned = assign_stages(tasks, plans, configured=False)
    assert [t.stage for t in assigned] == ["Build", "Design", None, "Build"]


def test_discovered_keys_stay_unique():
    plans = discover_stages(
        [task("A", stage_values=("UAT",)), task("B", stage_values=("uat",))], {}
    )
    assert [p.key for p in plans] == ["uat", "uat-2"]


def test_slugs():
    assert slugify("Design Review") == "design-review"
    assert slugify("需求确认") == "需求确认"
    assert slugify("v1.0-req") == "v1-0-req"
    assert slugify("  ") == "stage"


_values = st.lists(st.sampled_from(["A", "B", "C", "D"]), max_size=3).map(tuple)


@given(st.lists(st.tuples(_values, st.booleans()), max_size=30), st.booleans())
def test_stage_totals_and_unstaged_sum_to_the_project_total(specs, configured):
    tasks = [
        task(f"T-{i}", "done" if done else "todo", stage_values=values, done="2026-11-02")
        if done
        else task(f"T-{i}", stage_values=values)
        for i, (values, done) in enumerate(specs)
    ]
    plans = (
        [StagePlan(n, n.lower(), n) for n in ("B", "A")]
        if configured
        else discover_stages(tasks, {})
    )
    assigned = assign_stages(tasks, plans, configured=configured)
    per_stage = [sum(1 for t in assigned if t.stage == p.name) for p in plans]
    unstaged = sum(1 for t in assigned if t.stage is None)
    assert sum(per_stage) + unstaged == project_progress(assigned).total == len(tasks)
