"""BridgeSettings: one set of options for the CLI, Server(...) and the Jupyter extension."""

from __future__ import annotations

import argparse

import pytest

from jupyter_bridge.settings import BridgeSettings, add_arguments, arguments_given


def parse(*argv: str) -> BridgeSettings:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return BridgeSettings(**arguments_given(parser.parse_args(list(argv))))


def test_every_cli_option_is_a_flag_named_after_its_trait():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    flags = {option for action in parser._actions for option in action.option_strings}

    for name in BridgeSettings.class_trait_names(cli=True):
        assert "--" + name.replace("_", "-") in flags


def test_flags_set_the_traits_they_name_and_leave_the_rest_at_their_defaults():
    settings = parse("--port", "8080", "--dev", "--allow-websocket-origin", "a.example:443",
                     "--allow-websocket-origin", "b.example")  # fmt: skip

    assert settings.port == 8080 and settings.dev is True
    assert settings.allow_websocket_origin == ["a.example:443", "b.example"]
    assert settings.unused_session_lifetime == BridgeSettings().unused_session_lifetime


def test_an_unknown_keyword_setting_is_refused_listing_the_known_ones():
    with pytest.raises(TypeError, match="unknown server setting.*prot") as info:
        BridgeSettings(prot=5006)
    assert "port" in str(info.value)


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("JUPYTER_BRIDGE_COOKIE_SECRET", "cookies")
    monkeypatch.setenv("JUPYTER_BRIDGE_ALLOW_WS_ORIGIN", "one.example:80, two.example")

    settings = BridgeSettings()

    assert settings.signing_key == b"k" * 40
    assert settings.cookie_secret == "cookies"
    assert settings.allowed_origins() == {"one.example:80", "two.example:80"}  # no port: 80, as in Bokeh


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"session_ids": "external-signed", "secret_key": None}, "needs the key the other process signs"),
        ({"secret_key": "short"}, "too short"),
        ({"ssl_keyfile": "key.pem"}, "needs --ssl-certfile"),
        ({"auth_module": "/no/such/auth.py"}, "--auth-module /no/such/auth.py: no such file"),
        ({"num_procs": -1}, "--num-procs must be 0"),
        ({"idle_connection_timeout": 0}, "--idle-connection-timeout must be a number of seconds"),
        ({"allow_websocket_origin": ["ftp://example.com"]}, "is not \\[SCHEME://\\]HOST"),
        ({"allow_websocket_origin": ["example.com/apps"]}, "is not \\[SCHEME://\\]HOST"),
        ({"frame_ancestors": ["https://portal.example.com:99999"]}, "--frame-ancestors .* is not"),
    ],
)
def test_settings_that_cannot_work_are_refused_naming_the_fix(options, message, monkeypatch):
    monkeypatch.delenv("JUPYTER_BRIDGE_SECRET_KEY", raising=False)
    with pytest.raises(ValueError, match=message):
        BridgeSettings(**options).check()


def test_pages_may_connect_from_the_served_host_only_by_default():
    settings = BridgeSettings(port=5006, address="10.1.2.3", allow_websocket_origin=[])

    assert settings.allowed_origins() == {
        "localhost:5006", "127.0.0.1:5006", "[::1]:5006", "10.1.2.3:5006"
    }  # fmt: skip
