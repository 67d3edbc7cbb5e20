"""Prefect wiring and the command line. Our Prefect defaults apply before Prefect loads."""

from flows.runtime import apply_prefect_defaults

apply_prefect_defaults()
