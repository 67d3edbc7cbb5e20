"""What Prefect costs a stagecast run on one machine: the API start-up and each flow run.

Runs the real `sync` flow on the demo workspace against Prefect's temporary local API, and the
same work as plain function calls, in one process, and prints the fixed costs and the ratio.

    .venv/bin/python benchmarks/flow_overhead.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from flows.demo import BOARD, DEMO_SOURCE, PROJECT, TODAY, fresh_workspace
from flows.runtime import local_runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    workdir = Path(tempfile.mkdtemp()) / "demo"
    config = fresh_workspace(workdir)
    shutil.copyfile(DEMO_SOURCE / BOARD, workdir / BOARD)

    started = time.perf_counter()
    with local_runs():
        from connectors.store import StateStore
        from flows.sync import sync_flow, sync_project
        from stagecast.config import load_config

        imported = time.perf_counter()
        sync_flow(str(config), PROJECT, TODAY)  # starts the temporary API server
        first = time.perf_counter()
        for _ in range(runs):
            sync_flow(str(config), PROJECT, TODAY)
        flows_done = time.perf_counter()
        loaded = load_config(config)
        with StateStore(loaded.state) as store:
            plain_started = time.perf_counter()
            for _ in range(runs):
                sync_project(loaded.project(PROJECT), store, datetime.fromisoformat(TODAY))
            plain_done = time.perf_counter()
    flow_each = (flows_done - first) / runs
    plain_each = (plain_done - plain_started) / runs
    print(f"import stagecast flows + prefect: {imported - started:6.2f} s")
    print(f"first flow run (starts the API):  {first - imported:6.2f} s")
    print(f"warm flow run, each:              {flow_each * 1000:6.0f} ms")
    print(f"same work without Prefect, each:  {plain_each * 1000:6.0f} ms")
    print(
        f"fixed cost of a flow run:         {(flow_each - plain_each) * 1000:6.0f} ms "
        f"(ratio {flow_each / plain_each:.1f}x on a {plain_each * 1000:.0f} ms sync)"
    )
    shutil.rmtree(workdir.parent)


if __name__ == "__main__":
    main()
