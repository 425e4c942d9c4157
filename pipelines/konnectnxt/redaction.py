"""Keeps secrets out of everything the pipeline prints or writes: every known secret becomes ***."""

import logging

_secrets: set[str] = set()


def register_secret(value: object) -> None:
    if isinstance(value, str) and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))
