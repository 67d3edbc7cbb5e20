"""Every test here runs flows: they share the session's Prefect test server."""

import pytest


@pytest.fixture(autouse=True)
def _on_the_test_server(prefect_server):
    """Flows in these tests talk to the one temporary Prefect server of the session."""
