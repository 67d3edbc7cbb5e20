"""The built wheel, installed into a fresh virtualenv, runs `stagecast demo`: the templates, the
demo workspace and the migrations ship inside the package, not only in a checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str | Path, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


# What a clean checkout has: the wheel is built from a copy, so nothing stale (an old build/)
# gets in and nothing is written into the checkout.
NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", ".stagecast", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis",
)  # fmt: skip


def test_the_installed_wheel_runs_the_demo(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCE)
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
        "--quiet", source, "-w", tmp_path / "dist", cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("stagecast-*.whl")
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    installed = run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--quiet", wheel, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    # The dependencies come from this test's environment; stagecast itself only from the wheel
    # (a plain path line: the checkout's editable-install hook there is not run).
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path)
    Path(site.stdout.strip(), "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    where = run(
        python, "-c", "import stagecast.reports.render as r; print(r.TEMPLATES)", cwd=tmp_path
    )
    assert where.stdout.strip().startswith(str(venv)), where.stdout + where.stderr

    demo = run(venv / "bin" / "stagecast", "demo", "--workdir", tmp_path / "demo", cwd=tmp_path)

    assert demo.returncode == 0, demo.stdout + demo.stderr
    outbox = tmp_path / "demo" / ".stagecast" / "outbox" / "acme-portal"
    assert (outbox / "client-group" / "daily_update-2026-11-20.md").is_file()
    assert "项目日报" in (outbox / "client-group" / "daily_update-2026-11-20.md").read_text("utf-8")
    assert list(outbox.glob("*/stage_report-*.html"))
