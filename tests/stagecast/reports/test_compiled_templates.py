"""Compiled templates kept on disk for the next process: the same reports, never stale ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Renders the daily update of the test scenario in a fresh process, with the cache in a folder
# (or none), and prints its markdown and HTML and how many templates that process compiled.
RENDER = """
import sys
from pathlib import Path
import jinja2.environment
from stagecast.reports.render import keep_compiled_templates
from tests.stagecast.reports.test_render import daily
from tests.stagecast.reports.scenario import scenario
compiled = 0
original = jinja2.environment.Environment._compile
def counting(self, source, filename):
    global compiled
    compiled += 1
    return original(self, source, filename)
jinja2.environment.Environment._compile = counting
folder = sys.argv[1]
keep_compiled_templates(Path(folder) if folder else None)
dirs = [Path(sys.argv[2])] if sys.argv[2] else []
m = daily(scenario("zh-CN"), "zh-CN", "client", template_dirs=dirs)
sys.stdout.write(m.markdown + m.html + f"\\ncompiled {compiled}\\n")
"""


def render_in_a_new_process(folder: Path | None, dirs: Path | None = None) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", RENDER, str(folder or ""), str(dirs or "")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    text, _, count = done.stdout.rpartition("\ncompiled ")
    return text, int(count)


def test_the_next_process_renders_the_same_report_without_compiling(tmp_path):
    fresh, compiled = render_in_a_new_process(None)
    assert compiled > 3  # the kind's templates and their macros
    first, _ = render_in_a_new_process(tmp_path)
    again, compiled_again = render_in_a_new_process(tmp_path)
    assert compiled_again == 0
    assert first == again == fresh


def test_an_edited_template_is_compiled_again(tmp_path):
    ours = tmp_path / "templates"
    ours.mkdir()
    title = "{{ report.project_name }} · 日报"
    (ours / "daily_update.md.j2").write_text(f"# {title}\n", encoding="utf-8")
    before, _ = render_in_a_new_process(tmp_path / "cache", ours)
    (ours / "daily_update.md.j2").write_text(f"# {title} (edited)\n", encoding="utf-8")
    after, compiled = render_in_a_new_process(tmp_path / "cache", ours)
    assert "(edited)" in after and "(edited)" not in before
    assert compiled == 1


def test_a_folder_that_cannot_be_written_only_costs_the_compiling(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")  # no folder can be made under it
    text, compiled = render_in_a_new_process(blocked / "cache")
    assert compiled > 3 and text == render_in_a_new_process(None)[0]
