"""The configuration part of `--help`, generated from the configspec: every key, its default, what it does."""

import textwrap

from .config import ENV_PREFIX, SECTION, SETTINGS, defaults, toml_value


def help_text() -> str:
    """The configuration part of `--help`: every key, its default and what it does."""
    lines = [f"configuration {SECTION} (.dlt/config.toml, secrets in .dlt/secrets.toml; env {ENV_PREFIX}<KEY>):"]
    values = defaults()
    for key, setting in SETTINGS.items():
        lines.append(f"  {key} (secret)" if setting.secret else f"  {key} = {toml_value(values[key])}")
        lines.extend(textwrap.wrap(setting.help, width=96, initial_indent="      ", subsequent_indent="      "))
    return "\n".join(lines)
