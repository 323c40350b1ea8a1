"""Configuration: defaults, secrets from the environment, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.config import load_config, secret
from mailflow.errors import ConfigError


def test_no_file_means_working_defaults() -> None:
    config = load_config(None)
    assert config.database.url.startswith("sqlite:///")
    assert config.general.timezone == "Asia/Shanghai"


def test_the_example_config_loads(tmp_path: Path) -> None:
    config = load_config(Path(__file__).parent.parent / "config.example.toml")
    assert config.imap.folder == "INBOX"
    assert config.smtp.security == "starttls"
    assert config.smtp.send_while_polling == 2.0  # an integer in the TOML is seconds all the same
    assert config.security.require_authenticated_staff is True


def test_relative_paths_resolve_against_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "m.toml").write_text('[database]\nurl = "sqlite:///var/x.db"\n[paths]\nrules = "myrules"\n')
    config = load_config(tmp_path / "m.toml")
    assert config.database_url == f"sqlite:///{tmp_path / 'var/x.db'}"
    assert config.path(config.paths.rules) == tmp_path / "myrules"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[imap]\nprot = 1\n", "m.toml: unknown key imap.prot"),
        ("[imap]\nport = \"993\"\n", "m.toml: imap.port: expected int, got '993'"),
        ("[smtp]\nsecurity = \"tls\"\n", "m.toml: smtp.security: expected one of ssl, starttls, none, got 'tls'"),
        ("[mystery]\n", "m.toml: unknown section [mystery]"),
        ("[smtp]\nconnections = 0\n", "m.toml: smtp.connections: expected a positive number, got 0"),
        ("[smtp]\nsend_while_polling = -1\n", "m.toml: smtp.send_while_polling: expected seconds, 0 or more, got -1.0"),
        ("[smtp]\nsend_while_polling = nan\n", "m.toml: smtp.send_while_polling: expected seconds, 0 or more, got nan"),
        ("[smtp]\nsend_while_polling = \"2s\"\n", "m.toml: smtp.send_while_polling: expected float, got '2s'"),
        ("[smtp]\nconnections = 64\n", "m.toml: smtp.connections: at most 20 (relays refuse more from one client), got 64"),
        ("[general]\ntimezone = \"Mars/Olympus\"\n", "m.toml: general.timezone: unknown time zone 'Mars/Olympus'"),
        ("[imap\n", "m.toml: "),
    ],
)
def test_every_mistake_is_one_line_naming_the_file_and_key(tmp_path: Path, monkeypatch, text: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config("m.toml")
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_passwords_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "m.toml").write_text('[imap]\npassword_env = "MF_TEST_PW"\n')
    config = load_config(tmp_path / "m.toml")
    monkeypatch.setenv("MF_TEST_PW", "s3cret")
    assert secret(config.imap, "imap") == "s3cret"
    monkeypatch.delenv("MF_TEST_PW")
    with pytest.raises(ConfigError, match="MF_TEST_PW is not set"):
        secret(config.imap, "imap")
