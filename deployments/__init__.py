"""stagecast's Prefect deployments: what `stagecast serve` serves and `stagecast deploy` registers.

`catalog.py` declares what never changes (which flows, their descriptions, tags and how each is
started); `build.py` generates what comes from `stagecast.yaml` (each project's schedules,
the event triggers, the parameters); `register.py` puts them on a Prefect server, idempotently.
"""
