"""Shared by the reliability tests: the delivery rig, and the tally of hostile cases tried.

The tally is printed at the end of the run (category | cases | held), so a green run also says
how hard it pushed: `tally.record("hostile config: aliases", cases=1)` counts cases as they are
tried, and a failed test marks the categories it recorded as not held.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import pytest

from tests.reliability.rig import rig_fixture  # noqa: F401  (the `rig` the delivery tests use)

_TALLY = pytest.StashKey["ReliabilityTally"]()


@dataclass
class Category:
    """Cases tried in one category, and whether every test that tried them passed."""

    cases: int = 0
    held: bool = True


@dataclass
class ReliabilityTally:
    """Cases tried per category across the run."""

    categories: dict[str, Category] = field(default_factory=dict)
    current_test: str | None = None
    by_test: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def record(self, category: str, cases: int = 1) -> None:
        """Count cases as they are tried, so a case that fails is counted too."""
        self.categories.setdefault(category, Category()).cases += cases
        if self.current_test is not None:
            self.by_test[self.current_test].add(category)

    def test_failed(self, test: str) -> None:
        """The categories this test recorded did not all hold."""
        for category in self.by_test.get(test, ()):
            self.categories[category].held = False


def _tally(config: pytest.Config) -> ReliabilityTally:
    """The run's one tally, made on first use."""
    if _TALLY not in config.stash:
        config.stash[_TALLY] = ReliabilityTally()
    return config.stash[_TALLY]


@pytest.fixture(scope="session")
def reliability_tally(pytestconfig: pytest.Config) -> ReliabilityTally:
    """The run's tally of hostile cases per category."""
    return _tally(pytestconfig)


@pytest.fixture(scope="session")
def tally(reliability_tally: ReliabilityTally) -> ReliabilityTally:
    """The same tally, by its short name."""
    return reliability_tally


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """Cases recorded while a test runs belong to that test."""
    tally = _tally(item.config)
    tally.current_test = item.nodeid
    try:
        return (yield)
    finally:
        tally.current_test = None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """A failed test's categories are shown as not held."""
    report = yield
    if report.failed:
        _tally(item.config).test_failed(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """The table: category | cases | held, and whether all held."""
    tally = config.stash.get(_TALLY, None)
    if tally is None or not tally.categories:
        return
    width = max(len("category"), *(len(name) for name in tally.categories))
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", "reliability: cases tried per category")
    write(f"{'category':<{width}} | {'cases':>6} | held")
    for name, row in sorted(tally.categories.items()):
        write(f"{name:<{width}} | {row.cases:>6} | {'yes' if row.held else 'NO'}")
    total = sum(row.cases for row in tally.categories.values())
    held = all(row.held for row in tally.categories.values())
    verdict = "all held" if held else "NOT all held"
    write(f"{total} cases in {len(tally.categories)} categories: {verdict}")
