"""Turn the config's secret references into values, at the moment a connector needs them.

`env:NAME` reads an environment variable; `secret:NAME` loads a Prefect Secret block. Values
are never logged or put into errors; failures name the reference, not what it holds.
"""

from __future__ import annotations

from stagecast.config import ConfigError, SecretRef, resolve_value


def reveal(value: SecretRef | str | None) -> str | None:
    """The secret's value (None stays None); a literal is returned as it is."""
    if value is None:
        return None
    if isinstance(value, SecretRef) and value.kind == "secret":
        return _prefect_secret(value.name)
    return resolve_value(value)


def _prefect_secret(name: str) -> str:
    """Load a Prefect Secret block by name, from the Prefect server the settings name (a
    temporary one would hold no blocks)."""
    from connectors.prefect_api import prefect_configured

    if not prefect_configured():
        raise ConfigError(
            [
                f"secret:{name}: Prefect Secret blocks live on a Prefect server, and no"
                " PREFECT_API_URL is set (use env:NAME, or point PREFECT_API_URL at the server)"
            ]
        )
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError:
        raise ConfigError([f"secret:{name}: no Prefect Secret block named '{name}'"]) from None
    return str(block.get())
