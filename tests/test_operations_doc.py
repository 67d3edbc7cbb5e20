"""docs/operations.md names Prefect settings an operator will copy into an environment file: each
must be one the pinned Prefect reads, or a typo silently does nothing."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import prefect.server.utilities.encryption as encryption
from prefect.settings import Settings
from prefect.settings.legacy import _get_valid_setting_names

DOC = Path(__file__).resolve().parents[1] / "docs" / "operations.md"
# prefect-redis (not in our lock files) reads these: `RedisMessagingSettings`, env prefix
# PREFECT_REDIS_MESSAGING_, fields host, port, db, username, password, ssl.
PREFECT_REDIS = {"PREFECT_REDIS_MESSAGING_HOST"}


def test_every_prefect_setting_the_doc_names_exists() -> None:
    named = set(re.findall(r"\bPREFECT_[A-Z0-9_]*[A-Z0-9]\b", DOC.read_text("utf-8")))
    known = set(_get_valid_setting_names(Settings))
    # Read with os.getenv by the server's encryption helper, not through the settings model.
    assert "PREFECT_SERVER_ENCRYPTION_KEY" in inspect.getsource(encryption)
    known.add("PREFECT_SERVER_ENCRYPTION_KEY")
    assert len(named) > 20
    assert sorted(named - known - PREFECT_REDIS) == []
