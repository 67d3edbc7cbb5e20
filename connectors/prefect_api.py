"""Whether this process has a Prefect API to talk to, read from Prefect's own settings files
without importing Prefect (which costs a second and 60 MB a one-shot command need not pay)."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

API_URL = "PREFECT_API_URL"


def prefect_configured() -> bool:
    """Whether Prefect settings name an API this process should record its runs with."""
    if os.environ.get(API_URL):
        return True
    return bool(_from_dotenv() or _from_prefect_toml() or _from_profile())


def _from_dotenv() -> str | None:
    """`PREFECT_API_URL=…` in a `.env` file of the working directory (Prefect reads it too)."""
    try:
        lines = Path(".env").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        name, _, value = line.strip().removeprefix("export ").partition("=")
        if name.strip() == API_URL and value.strip().strip("'\""):
            return value.strip()
    return None


def _toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}


def _from_prefect_toml() -> str | None:
    """`[api] url = …` in the working directory's `prefect.toml`."""
    api = _toml(Path("prefect.toml")).get("api")
    return api.get("url") if isinstance(api, dict) else None


def _from_profile() -> str | None:
    """`PREFECT_API_URL` of the active profile in `$PREFECT_HOME/profiles.toml`."""
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect").expanduser()
    document = _toml(home / "profiles.toml")
    active = os.environ.get("PREFECT_PROFILE") or document.get("active") or "ephemeral"
    profile = document.get("profiles", {}).get(active, {})
    return profile.get(API_URL) if isinstance(profile, dict) else None
