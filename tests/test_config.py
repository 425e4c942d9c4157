"""The configuration: every key defined once (default, help, checks), and what is derived from it."""

import tomllib

import pytest

from conftest import REPO_ROOT
from konnectnxt.config import SETTINGS, InvalidSetting, KonnectNxtConfiguration, defaults, help_text
from konnectnxt.errors import ConfigurationError


def test_every_key_of_the_spec_has_help_and_an_expected_shape():
    assert set(SETTINGS) == set(KonnectNxtConfiguration.get_resolvable_fields())
    assert all(setting.help and setting.expected for setting in SETTINGS.values())


def test_the_committed_config_toml_lists_every_non_secret_key_with_the_codes_default():
    committed = tomllib.loads((REPO_ROOT / ".dlt" / "config.toml").read_text(encoding="utf-8"))["sources"]["konnectnxt"]
    expected = {key: value for key, value in defaults().items() if not SETTINGS[key].secret}
    assert committed == expected


def test_help_names_every_key_with_its_default():
    text = help_text()
    for key, setting in SETTINGS.items():
        assert f"  {key} (secret)" in text if setting.secret else f"  {key} = " in text, key
    assert "  workers = 10\n" in text and "  pii_salt (secret)\n" in text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("workers", 0),
        ("poll_intervals", []),
        ("poll_intervals", [30, -1]),
        ("request_timeout", 0),
        ("base_url", "bgv.konnectnxt.com/api"),
        ("report_timezone", "Mars/Olympus"),
        ("pii", "encrypt"),
        ("sla_days", {"criminal": 3}),
        ("min_poll_interval", float("nan")),
    ],
)
def test_values_that_cannot_work_are_rejected_when_resolved(key, value):
    configuration = KonnectNxtConfiguration(**{key: value})
    with pytest.raises(InvalidSetting) as raised:
        configuration.on_resolved()
    assert raised.value.field_name == key


def test_hash_mode_needs_a_salt():
    with pytest.raises(ConfigurationError, match="pii_salt"):
        KonnectNxtConfiguration(pii="hash").on_resolved()
    KonnectNxtConfiguration(pii="hash", pii_salt="s3cret-salt").on_resolved()


def test_the_defaults_resolve():
    KonnectNxtConfiguration().on_resolved()
