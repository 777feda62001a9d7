"""Settings from config files, the environment and the command line, merged like Jupyter's and Bokeh's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import EXAMPLES
from support import free_port, wait_for_http

from jupyter_bridge.config import ConfigError, configure, found_config_files, read_config_file

CLI = [sys.executable, "-m", "jupyter_bridge.cli"]


@pytest.fixture(autouse=True)
def no_bridge_environment(monkeypatch):
    """No JUPYTER_BRIDGE_* variable of the machine's own leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("JUPYTER_BRIDGE_"):
            monkeypatch.delenv(name)


def config_dir(path: Path, py: str | None = None, json_text: dict | None = None) -> str:
    path.mkdir(parents=True, exist_ok=True)
    if py is not None:
        (path / "jupyter_bridge_config.py").write_text(py)
    if json_text is not None:
        (path / "jupyter_bridge_config.json").write_text(json.dumps(json_text))
    return str(path)


def test_files_are_found_lowest_priority_first_and_json_wins_over_py_in_one_directory(tmp_path):
    user = config_dir(tmp_path / "user", py="c.BridgeSettings.port = 1\n", json_text={"BridgeSettings": {"port": 2}})
    system = config_dir(tmp_path / "system", py="c.BridgeSettings.port = 3\nc.BridgeSettings.theme = 'dark'\n")
    # Jupyter lists the highest priority first: the user's directory before the system's.
    search = [user, str(tmp_path / "nothing-here"), system]

    assert found_config_files(search) == [
        Path(system) / "jupyter_bridge_config.py",
        Path(user) / "jupyter_bridge_config.py",
        Path(user) / "jupyter_bridge_config.json",
    ]
    configuration = configure({}, search_path=search)
    assert configuration.settings.port == 2
    assert configuration.settings.theme == "dark"
    assert configuration.source("port") == f"{Path(user) / 'jupyter_bridge_config.json'}: c.BridgeSettings.port"
    assert configuration.source("keep_alive") == "default"


def test_environment_beats_found_files_the_named_file_beats_both_and_flags_beat_all(tmp_path, monkeypatch):
    found = config_dir(tmp_path / "found", py="c.BridgeSettings.port = 1\nc.BridgeSettings.dev = True\n"
                                              "c.BridgeSettings.num_procs = 3\nc.BridgeSettings.prefix = '/f'\n")  # fmt: skip
    named = tmp_path / "named.json"
    named.write_text(json.dumps({"BridgeSettings": {"num_procs": 4, "prefix": "/n"}}))
    monkeypatch.setenv("JUPYTER_BRIDGE_PORT", "7001")
    monkeypatch.setenv("JUPYTER_BRIDGE_DEV", "no")
    monkeypatch.setenv("JUPYTER_BRIDGE_ALLOW_WS_ORIGIN", "a.example, b.example:8080")

    configuration = configure({"prefix": "/cli"}, config_file=str(named), search_path=[found])
    settings = configuration.settings

    assert (settings.port, settings.dev, settings.num_procs, settings.prefix) == (7001, False, 4, "/cli")
    assert settings.allow_websocket_origin == ["a.example", "b.example:8080"]
    assert configuration.source("port") == "environment: JUPYTER_BRIDGE_PORT"
    assert configuration.source("num_procs") == f"--config {named}: c.BridgeSettings.num_procs"
    assert configuration.source("prefix") == "command line: --prefix"
    assert configuration.read == [str(Path(found) / "jupyter_bridge_config.py"), "environment",
                                  f"--config {named}", "command line"]  # fmt: skip


def test_list_options_may_be_appended_to_in_a_python_file(tmp_path):
    found = config_dir(tmp_path, py="c.BridgeSettings.include_headers.append('X-User')\n")

    assert configure({}, search_path=[found]).settings.include_headers == ["X-User"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("c.BridgeSettings.prot = 80\n", "c.BridgeSettings.prot is not an option; did you mean port?"),
        ("c.BridgeSettings.theme = 'blue'\n",
         "c.BridgeSettings.theme: 'blue' is not a valid value; it takes one of auto, light, dark"),
        ("c.BridgeSettings.port = '80'\n", "c.BridgeSettings.port: '80' is not a valid value; it takes a whole number"),
        ("c.BridgeSetting.port = 80\n", "c.BridgeSetting is not read by jupyter-bridge serve (did you mean BridgeSettings?)"),
        ("c.BridgeSettings.port = 80\nif True\n", "line 2: "),
        ("import no_such_module_here\n", "running it raised ModuleNotFoundError"),
    ],
)  # fmt: skip
def test_a_bad_python_file_is_one_sentence_naming_the_file_the_option_and_the_fix(tmp_path, text, message):
    path = tmp_path / "jupyter_bridge_config.py"
    path.write_text(text)

    with pytest.raises(ConfigError) as info:
        read_config_file(path)

    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_bad_json_file_names_its_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"BridgeSettings":\n  {"port": 80,}}\n')

    with pytest.raises(ConfigError, match=r"bad.json, line 2: not valid JSON"):
        read_config_file(path)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("JUPYTER_BRIDGE_PORT", "many", "JUPYTER_BRIDGE_PORT='many' is not valid; it takes a whole number"),
        ("JUPYTER_BRIDGE_DEV", "maybe", "JUPYTER_BRIDGE_DEV='maybe' is not valid; it takes 1/0, true/false"),
        ("JUPYTER_BRIDGE_SESSION_IDS", "sign", "it takes one of unsigned, signed, external-signed"),
    ],
)
def test_a_bad_environment_variable_names_itself_and_what_it_takes(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError, match=message):
        configure({}, search_path=[])


def test_settings_that_cannot_work_name_where_they_were_set(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_BRIDGE_AUTH_MODULE", str(tmp_path / "missing_auth.py"))

    with pytest.raises(ConfigError, match=r"missing_auth.py: no such file; check the path \(set by environment: "
                                          r"JUPYTER_BRIDGE_AUTH_MODULE\)"):  # fmt: skip
        configure({}, search_path=[]).check()


def test_a_named_config_file_that_is_missing_or_not_a_config_file(tmp_path):
    with pytest.raises(ConfigError, match="--config .*nope.py: no such file"):
        configure({}, config_file=str(tmp_path / "nope.py"), search_path=[])
    (tmp_path / "settings.yaml").write_text("port: 1\n")
    with pytest.raises(ConfigError, match=r"a config file is a .py or a .json file"):
        configure({}, config_file=str(tmp_path / "settings.yaml"), search_path=[])


def test_the_environment_also_sets_what_code_leaves_unset(monkeypatch):
    from jupyter_bridge.settings import BridgeSettings

    monkeypatch.setenv("JUPYTER_BRIDGE_PORT", "7002")
    monkeypatch.setenv("JUPYTER_BRIDGE_THEME_IS_NOT_A_VARIABLE", "dark")

    assert BridgeSettings().port == 7002
    assert BridgeSettings(port=0).port == 0
    assert BridgeSettings().theme == "auto"


# The command, as a real process.


def cli_environment(**variables: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER_BRIDGE_")}
    return {**environment, **variables}


def serve_and_fetch(environment: dict[str, str], *arguments: str) -> tuple[int, str]:
    """Start ``jupyter-bridge serve sliders.py ARGUMENTS`` (no --port) and fetch its app; (port seen, page)."""
    process = subprocess.Popen(
        [*CLI, "serve", str(EXAMPLES / "sliders.py"), *arguments, "--log-level", "warning"],
        env=environment, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        line = process.stdout.readline()  # "Serving at http://localhost:PORT/"
        assert line.startswith("Serving at "), line
        port = int(line.rsplit(":", 1)[1].strip().strip("/").split("/")[0])
        wait_for_http(f"http://127.0.0.1:{port}/healthz", process)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/sliders", timeout=30) as response:
            return port, response.read().decode()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_config_file_in_jupyters_config_directory_changes_the_port(tmp_path):
    port = free_port()
    directory = config_dir(tmp_path / "jupyter", py=f"c.BridgeSettings.port = {port}\n")

    seen, page = serve_and_fetch(cli_environment(JUPYTER_CONFIG_DIR=directory))

    assert seen == port and "jupyter-bridge" in page.lower()


def test_an_environment_variable_changes_the_port(tmp_path):
    port = free_port()

    seen, page = serve_and_fetch(cli_environment(JUPYTER_CONFIG_DIR=str(tmp_path), JUPYTER_BRIDGE_PORT=str(port)))

    assert seen == port and "jupyter-bridge" in page.lower()


def test_a_named_config_file_changes_the_port_and_the_flag_still_wins(tmp_path):
    named = tmp_path / "site.json"
    named.write_text(json.dumps({"BridgeSettings": {"port": free_port(), "prefix": "/ignored"}}))
    port = free_port()
    environment = cli_environment(JUPYTER_CONFIG_DIR=str(tmp_path))

    seen, _ = serve_and_fetch(environment, "--config", str(named), "--port", str(port), "--prefix", "")

    assert seen == port


def test_show_config_prints_each_value_with_its_source_and_hides_secrets(tmp_path):
    port = free_port()
    directory = config_dir(tmp_path / "jupyter", py=f"c.BridgeSettings.port = {port}\n")
    environment = cli_environment(
        JUPYTER_CONFIG_DIR=directory, JUPYTER_BRIDGE_SECRET_KEY="s" * 40, JUPYTER_BRIDGE_THEME="dark"
    )

    result = subprocess.run([*CLI, "serve", "--show-config", "--dev"], env=environment,
                            capture_output=True, text=True, timeout=60)  # fmt: skip

    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0].split(" is ")[0]: line for line in result.stdout.splitlines()}
    assert lines["c.BridgeSettings.port"].split("#")[-1].strip().startswith(str(Path(directory)))
    assert f"= {port} " in lines["c.BridgeSettings.port"]
    assert lines["c.BridgeSettings.dev"].endswith("# command line: --dev")
    assert lines["# c.BridgeSettings.secret_key"].endswith("# environment: JUPYTER_BRIDGE_SECRET_KEY")
    assert "s" * 40 not in result.stdout
    assert lines["c.BridgeSettings.theme"].endswith("# default")  # no variable for the theme: Bokeh has none


def test_a_bad_value_stops_the_command_in_one_line(tmp_path):
    directory = config_dir(tmp_path / "jupyter", json_text={"BridgeSettings": {"keep_alive": "often"}})

    result = subprocess.run([*CLI, "serve", str(EXAMPLES / "sliders.py")], env=cli_environment(JUPYTER_CONFIG_DIR=directory),
                            capture_output=True, text=True, timeout=60)  # fmt: skip

    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "jupyter_bridge_config.json: c.BridgeSettings.keep_alive: 'often' is not a valid value" in result.stderr


def test_generate_config_writes_every_option_commented_out_and_keeps_an_existing_file(tmp_path):
    environment = cli_environment(JUPYTER_CONFIG_DIR=str(tmp_path))
    command = [*CLI, "serve", "--generate-config"]

    first = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)

    path = tmp_path / "jupyter_bridge_config.py"
    assert first.returncode == 0 and str(path) in first.stdout
    text = path.read_text()
    assert "# c.BridgeSettings.port = 5006" in text and "JUPYTER_BRIDGE_PORT sets port" in text
    assert configure({}, search_path=[str(tmp_path)]).sources == {}  # all commented out: loads, sets nothing
    path.write_text(text.replace("# c.BridgeSettings.port = 5006", "c.BridgeSettings.port = 6123"))
    assert configure({}, search_path=[str(tmp_path)]).settings.port == 6123

    again = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and "exists already" in again.stderr and "--force" in again.stderr
    assert "port = 6123" in path.read_text()
    forced = subprocess.run([*command, "--force"], env=environment, capture_output=True, text=True, timeout=60)
    assert forced.returncode == 0 and "port = 6123" not in path.read_text()
