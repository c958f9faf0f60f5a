"""Edge config: examples load, and every error names the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edge.config import ConfigError, EdgeConfig, load_config, merge_sections, parse_config
from tests.conftest import REPO_ROOT

MINIMAL = "site: demo\ndevice: gate-1\ndoors: [{id: door-1}]\ngates: [{id: north, door: door-1}]\n"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["card-gate.yaml", "face-gate.yaml", "vehicle-gate.yaml"])
def test_example_configs_load(name):
    config = load_config(REPO_ROOT / "configs" / "edge" / name)
    assert isinstance(config, EdgeConfig)
    assert config.broker.tls and config.broker.ca_file is not None, "examples use TLS"
    document = yaml.safe_load((REPO_ROOT / "configs" / "edge" / name).read_text())
    assert "password" not in document["broker"] and config.broker.password_env, "secrets come from the environment"


def test_wrong_type_names_file_and_field(tmp_path):
    path = _write(tmp_path, MINIMAL + "outbox: {max_events: lots}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert "outbox.max_events" in str(err.value)


def test_unknown_key_is_an_error(tmp_path):
    path = _write(tmp_path, MINIMAL + "telemetry: {interval_s: 5, every: 3}\n")
    with pytest.raises(ConfigError, match=r"gate\.yaml: telemetry\.every: Extra inputs are not permitted"):
        load_config(path)


def test_nested_vision_config_errors_name_the_field(tmp_path):
    path = _write(tmp_path, MINIMAL + "faces: {pipeline: {voting: {k: 9, n: 3}}}\n")
    with pytest.raises(ConfigError, match=r"gate\.yaml: faces\.pipeline\.voting: k and unknown_k must not exceed n"):
        load_config(path)


def test_dangling_reference_names_the_field(tmp_path):
    text = MINIMAL + "cameras: [{id: cam-1, source: 0, role: face, gate: south}]\nfaces: {}\n"
    with pytest.raises(ConfigError, match=r"gate\.yaml: cameras\.0\.gate: 'south' is not one of gates"):
        load_config(_write(tmp_path, text))


def test_camera_role_needs_its_recogniser(tmp_path):
    text = MINIMAL + "cameras: [{id: cam-1, source: 0, role: plate, gate: north}]\n"
    with pytest.raises(ConfigError, match=r"cameras\.0\.role: plate needs the plates section"):
        load_config(_write(tmp_path, text))


def test_bad_yaml_and_missing_file_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="gate.yaml: not valid YAML"):
        load_config(_write(tmp_path, "site: [unclosed\n"))
    with pytest.raises(ConfigError, match="absent.yaml: cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_identifiers_must_be_topic_levels(tmp_path):
    with pytest.raises(ConfigError, match=r"gate\.yaml: device: identifier 'Gate 1' is not a topic level"):
        load_config(_write(tmp_path, "site: demo\ndevice: Gate 1\n"))


def test_remote_merge_validates_and_protects_identity():
    config = parse_config({"site": "demo", "device": "gate-1"}, "base")
    merged = merge_sections(config, {"telemetry": {"interval_s": 5}}, "update v2")
    assert merged.telemetry.interval_s == 5 and merged.site == "demo"
    with pytest.raises(ConfigError, match="update v3: broker: cannot be changed remotely"):
        merge_sections(config, {"broker": {"port": 1}}, "update v3")
    with pytest.raises(
        ConfigError, match=r"update v4: outbox\.max_events: Input should be greater than or equal to 10"
    ):
        merge_sections(config, {"outbox": {"max_events": 1}}, "update v4")
