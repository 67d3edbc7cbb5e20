"""`benchmarks/bench.py --quick` runs and its JSON holds every row with sane values, so `make
bench` cannot rot. No timing is asserted: the figures are the benchmark's to show, not the
suite's to judge (the suite runs on loaded machines)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
PLATFORMS = ("wecom", "dingtalk", "feishu", "slack", "teams")
ROWS = {
    "fixed_cost": "s",
    "full_sync_seconds": "s",
    "full_sync_vs_bound": "",
    "full_sync_requests_per_page": "",
    "unchanged_requests": "requests",
    "unchanged_vs_bound": "",
    "naive_ratio": "×",
    "rss_mb": "MB",
    "big_rss_mb": "MB",
    "renders_per_second": "/s",
    **{f"chat_{p}_per_second": "/s" for p in PLATFORMS},
}
TARGETED = {
    "fixed_cost",
    "full_sync_vs_bound",
    "full_sync_requests_per_page",
    "unchanged_requests",
    "unchanged_vs_bound",
    "naive_ratio",
    "rss_mb",
    "big_rss_mb",
}


def test_quick_benchmark_prints_a_table_and_json_with_every_row(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text(encoding="utf-8"))
    assert done.stdout.index("measure") < done.stdout.index('"settings"')  # table, then JSON
    assert json.loads(done.stdout[done.stdout.index("\n{") :]) == document

    settings, rows, runs = document["settings"], document["rows"], document["runs"]
    assert settings["quick"] is True
    assert set(rows) == set(ROWS)
    for key, unit in ROWS.items():
        row = rows[key]
        assert row["unit"] == unit, key
        assert isinstance(row["value"], int | float) and math.isfinite(row["value"]), key
        assert row["measure"] in done.stdout, key
        if key in TARGETED:
            assert row["target"] != "—" and isinstance(row["met"], bool), key
            assert isinstance(row["limit"], int | float) and row["limit"] > 0, key
        else:
            assert row["met"] is None and row["limit"] is None, key

    projects, issues, cap = settings["projects"], settings["issues"], settings["in_flight"]
    pages = projects * math.ceil(issues / settings["page"])
    for name in ("full", "unchanged", "naive", "big"):
        assert runs[name]["exit_code"] == 0 and runs[name]["problem"] is None, name
        assert runs[name]["seconds"] > 0 and 10 < runs[name]["max_rss_mb"] < 4000, name
    assert all(r["exit_code"] == 0 and r["requests"] >= 3 for r in runs["fixed"])
    assert rows["fixed_cost"]["value"] > 0 and rows["full_sync_seconds"]["value"] > 0
    # Every page read once at least; the unchanged re-sync asks each project at least once.
    assert runs["full"]["requests"] >= pages and rows["full_sync_requests_per_page"]["value"] >= 1
    assert projects <= rows["unchanged_requests"]["value"] <= runs["full"]["requests"]
    assert runs["naive"]["requests"] >= pages
    assert 0 < runs["full"]["peak_in_flight"] <= cap  # the Jira counted what arrived
    assert runs["big"]["requests"] >= settings["big_projects"]
    assert rows["naive_ratio"]["value"] > 0 and rows["rss_mb"]["value"] > 10

    assert document["render"]["reports"] > 0 and rows["renders_per_second"]["value"] > 0
    assert set(document["render"]["kinds"]) == {"daily_update", "stage_report"}
    for platform in PLATFORMS:
        chat, one = document["chat"][platform], document["chat"][platform]["one_webhook"]
        assert chat["sent"] == chat["deliveries"] > 0 and chat["posts"] >= chat["deliveries"]
        assert one["sent"] == one["deliveries"] > 0 and one["posts"] >= one["deliveries"]
