"""What dlt's providers hold under our section, and what is wrong there: unknown keys, misplaced secrets."""

import difflib
import os
import stat
from collections.abc import Collection
from typing import NamedTuple

import dlt
from dlt.common.configuration.providers import EnvironProvider
from dlt.common.configuration.providers.doc import BaseDocProvider

from .errors import ConfigurationError

ENVIRONMENT = "the environment"


class ProvidedKey(NamedTuple):
    """One key found in a provider: `key` as dlt matches it, `written` as the user wrote it."""

    key: str
    written: str
    where: str
    holds_secrets: bool


def provided_keys(sections: tuple[str, ...]) -> list[ProvidedKey]:
    """The keys under `sections` in the environment and in the toml files dlt reads (config and secrets)."""
    found: list[ProvidedKey] = []
    for provider in dlt.config.config_providers:
        if isinstance(provider, EnvironProvider):
            prefix = _env_prefix(sections)
            for name in sorted(os.environ):
                suffix = name.removeprefix(prefix)
                if name.startswith(prefix) and suffix:
                    # dlt looks env keys up in upper case only: `Workers` is not `workers` to it.
                    key = suffix.lower() if suffix.isupper() else suffix
                    found.append(ProvidedKey(key, name, ENVIRONMENT, provider.supports_secrets))
        elif isinstance(provider, BaseDocProvider):
            node, _ = provider.get_value(sections[-1], dict, None, *sections[:-1])
            if isinstance(node, dict):
                found.extend(ProvidedKey(key, key, provider.name, provider.supports_secrets) for key in node)
    return found


def refuse_unreadable_settings() -> None:
    """Raise ConfigurationError naming a settings folder or file that exists but cannot be read.

    dlt skips what it cannot read without a word: the run would go on with defaults, another
    database and another `pii` mode than configured.
    """
    for provider in dlt.config.config_providers:
        if isinstance(provider, BaseDocProvider):
            for path in getattr(provider, "locations", None) or []:
                _refuse_unreadable(os.path.dirname(path), folder=True)
                _refuse_unreadable(path, folder=False)


def _refuse_unreadable(path: str, folder: bool) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None
    expected, kind = (stat.S_ISDIR, "folder") if folder else (stat.S_ISREG, "file")
    if not expected(mode):
        raise _unreadable(path, f"it is not a {kind}")
    try:
        if folder:
            os.listdir(path)
        else:
            with open(path, "rb") as handle:
                handle.read(1)
    except OSError as exc:
        raise _unreadable(path, exc.strerror or str(exc)) from None


def _unreadable(path: str, reason: str) -> ConfigurationError:
    return ConfigurationError(
        f"the settings in {path} cannot be read: {reason}; make it readable by the account that runs "
        "the pipeline (it would otherwise run without them, on defaults)"
    )


def refuse_misplaced_secrets(sections: tuple[str, ...], secret_keys: Collection[str]) -> None:
    """Raise ConfigurationError when a secret sits in a provider not meant for secrets (config.toml)."""
    for item in provided_keys(sections):
        if item.key in secret_keys and not item.holds_secrets:
            raise ConfigurationError(
                f"{_label(sections)} {item.key} is in {item.where}, which is not for secrets (config.toml is "
                f"committed): move it to .dlt/secrets.toml or the env var {_env_prefix(sections)}{item.key.upper()}"
            )


def unknown_key_warnings(sections: tuple[str, ...], known_keys: Collection[str]) -> list[str]:
    """One line per key no setting has, naming the nearest known key."""
    lines = []
    for item in provided_keys(sections):
        if item.key in known_keys:
            continue
        nearest = difflib.get_close_matches(item.key.lower(), known_keys, n=1)
        if item.where == ENVIRONMENT:
            hint = f"did you mean {_env_prefix(sections)}{nearest[0].upper()}?" if nearest else "--help lists every key"
            lines.append(f"unknown setting {item.written} in the environment is ignored; {hint}")
        else:
            hint = f"did you mean {nearest[0]}?" if nearest else "--help lists every key"
            lines.append(f"unknown setting {item.written} under {_label(sections)} in {item.where} is ignored; {hint}")
    return lines


def _label(sections: tuple[str, ...]) -> str:
    return "[" + ".".join(sections) + "]"


def _env_prefix(sections: tuple[str, ...]) -> str:
    return "__".join(sections).upper() + "__"
