"""The configuration: every key defined once (default, help, checks), and what is derived from it."""

import logging
import math
import os
import tomllib

import pytest
from dlt.common.configuration.container import Container
from dlt.common.configuration.specs.pluggable_run_context import PluggableRunContext

from conftest import REPO_ROOT, TEST_API_KEY
from konnectnxt.config import (
    ENV_PREFIX,
    SETTINGS,
    InvalidSetting,
    KonnectNxtConfiguration,
    defaults,
    load_configuration,
    warn_about_configuration,
)
from konnectnxt.config_help import help_text
from konnectnxt.errors import ConfigurationError

INF, NAN = math.inf, math.nan


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
        ("min_poll_interval", NAN),
        ("min_poll_interval", 1e300),
        ("poll_intervals", [30, INF]),
        ("recheck_terminal_after", [86400, 0]),
        ("recheck_terminal_after", [NAN]),
        ("recheck_terminal_after", [1e300]),
        ("request_timeout", INF),
        ("request_timeout", 1e300),
        ("retry_base_delay", NAN),
        ("retry_max_delay", INF),
        ("lock_wait_seconds", 1e300),
        ("not_found_after_hours", INF),
        ("sla_days", {"default": INF}),
        ("max_requests_per_second", 1 / 7200),
        ("max_requests_per_second", INF),
        ("max_requests_per_second", NAN),
        ("max_requests_per_second", -1),
        ("workers", 10**6),
        ("max_report_bytes", 100),
        ("base_url", "http://bgv.konnectnxt.com/api"),
        ("base_url", "http://10.0.0.5:8765/api"),
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


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_requests_per_second", 1 / 3600),
        ("max_requests_per_second", 0),
        ("max_requests_per_second", 50),
        ("min_poll_interval", 0),
        ("recheck_terminal_after", []),
        ("recheck_terminal_after", [0.5]),
        ("request_timeout", 0.5),
        ("base_url", "http://127.0.0.1:8765/api"),
        ("base_url", "http://127.10.0.1/api"),
        ("base_url", "http://localhost:8765/api"),
        ("base_url", "http://[::1]:8765/api"),
        ("base_url", "https://testbgv.konnectnxt.com/api"),
    ],
)
def test_values_at_the_edges_of_what_works_are_accepted(key, value):
    KonnectNxtConfiguration(**{key: value}).on_resolved()


@pytest.fixture
def dot_dlt(tmp_path, monkeypatch):
    """A project dir of our own for dlt's providers (its .dlt folder is returned), no SOURCES__ env."""
    for name in os.environ:
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DLT_PROJECT_DIR", str(tmp_path))
    (tmp_path / ".dlt").mkdir()
    context = Container()[PluggableRunContext]
    context.reload_providers()
    yield tmp_path / ".dlt"
    monkeypatch.undo()
    context.reload_providers()


def settings_file(dot_dlt, name: str, body: str) -> None:
    (dot_dlt / name).write_text("[sources.konnectnxt]\n" + body, encoding="utf-8")
    Container()[PluggableRunContext].reload_providers()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ("REQUEST_TIMEOUT", "[sources.konnectnxt] request_timeout is malformed (got inf): expected a number of"),
        ("MAX_REQUESTS_PER_SECOND", "[sources.konnectnxt] max_requests_per_second is malformed (got inf)"),
    ],
)
def test_an_infinite_number_exits_2_naming_the_key(dot_dlt, monkeypatch, env, message):
    monkeypatch.setenv(ENV_PREFIX + env, "inf")
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(require_api_key=False)
    assert str(raised.value).startswith(message) and raised.value.exit_code == 2


def test_plain_http_to_a_remote_host_exits_2_saying_the_key_would_travel_unencrypted(dot_dlt, monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "BASE_URL", "http://bgv.konnectnxt.com/api")
    with pytest.raises(ConfigurationError) as raised:
        load_configuration(require_api_key=False)
    message = str(raised.value)
    assert message.startswith("[sources.konnectnxt] base_url cannot be used (got 'http://bgv.konnectnxt.com/api')")
    assert "unencrypted" in message and "https://" in message and "\n" not in message


def test_an_api_key_in_config_toml_exits_2_saying_where_it_belongs(dot_dlt):
    settings_file(dot_dlt, "config.toml", f'api_key = "{TEST_API_KEY}"\n')
    with pytest.raises(ConfigurationError) as raised:
        load_configuration()
    message = str(raised.value)
    assert "api_key is in config.toml" in message and ".dlt/secrets.toml" in message
    assert "SOURCES__KONNECTNXT__API_KEY" in message and TEST_API_KEY not in message


def test_an_api_key_in_secrets_toml_is_taken(dot_dlt):
    settings_file(dot_dlt, "secrets.toml", f'api_key = "{TEST_API_KEY}"\n')
    assert load_configuration().api_key == TEST_API_KEY


def test_each_unknown_key_is_one_warning_naming_the_nearest_known_key(dot_dlt, monkeypatch, caplog):
    settings_file(dot_dlt, "config.toml", "poll_interval = [30]\nworkers = 3\n")
    settings_file(dot_dlt, "secrets.toml", "pii_sallt = 'x'\n")
    monkeypatch.setenv(ENV_PREFIX + "WORKER", "3")
    configuration = load_configuration(require_api_key=False)
    with caplog.at_level(logging.WARNING, logger="bgv"):
        lines = warn_about_configuration(configuration)
    env_line = (
        "unknown setting SOURCES__KONNECTNXT__WORKER in the environment is ignored; "
        "did you mean SOURCES__KONNECTNXT__WORKERS?"
    )
    secrets_line = (
        "unknown setting pii_sallt under [sources.konnectnxt] in secrets.toml is ignored; did you mean pii_salt?"
    )
    config_line = (
        "unknown setting poll_interval under [sources.konnectnxt] in config.toml is ignored; "
        "did you mean poll_intervals?"
    )
    assert sorted(lines) == [env_line, secrets_line, config_line]
    assert sorted(r.getMessage() for r in caplog.records if r.name == "bgv" and r.levelname == "WARNING") == lines
    assert configuration.workers == 3


def test_the_committed_config_toml_gives_no_warning(dot_dlt):
    (dot_dlt / "config.toml").write_bytes((REPO_ROOT / ".dlt" / "config.toml").read_bytes())
    Container()[PluggableRunContext].reload_providers()
    assert warn_about_configuration(load_configuration(require_api_key=False)) == []


def test_a_min_poll_interval_below_15_is_one_warning_and_still_allowed(dot_dlt, monkeypatch):
    monkeypatch.setenv(ENV_PREFIX + "MIN_POLL_INTERVAL", "0")
    configuration = load_configuration(require_api_key=False)
    assert configuration.min_poll_interval == 0
    warning = (
        "[sources.konnectnxt] min_poll_interval = 0 is below 15: the vendor asks for at most one request per "
        "case every 15 seconds"
    )
    assert warn_about_configuration(configuration) == [warning]
