"""GA/T 1400 objects, export signatures (and the verify CLI), the police config section."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError

from server.config import ConfigError, ServerSettings, load_settings
from server.police import viid
from server.police.export import build_document
from server.police.settings import ExportSettings, PoliceSettings
from server.police.signing import (
    ExportSigner,
    SignatureError,
    SigningKeyError,
    canonical_json,
    load_signer,
    verify_export,
)
from server.police.verify import main as verify_cli
from server.storage.identity import IdentifierError
from tests.conftest import REPO_ROOT

CAMERA_ID = "11010500001320000001"  # Beijing centre, type 132 (camera), network 0
TS = datetime(2026, 3, 1, 16, 30, 5, tzinfo=UTC)
PLATE_RECORD = {
    "event_id": "4b5f3c5e-8a43-4a7e-9d1c-2f0c1f7d6e11",
    "ts": TS.isoformat(),
    "site": "north",
    "gate": "g1",
    "device": "cam-1",
    "plate": "京A12345",
    "colour": "yellow",
}


def test_pass_time_is_china_time_and_colour_codes_follow_gat1400():
    assert viid.pass_time(TS) == "20260302003005"
    assert viid.parse_pass_time("20260302003005") == TS
    assert [viid.plate_colour_code(c) for c in ("blue", "yellow", "green", "white", "black", None, "pink")] == [
        "5",
        "6",
        "9",
        "2",
        "1",
        "99",
        "99",
    ]


def test_object_ids_have_gat1400_lengths_and_are_stable():
    vehicle = viid.motor_vehicle(PLATE_RECORD, CAMERA_ID)
    assert len(vehicle["SourceID"]) == 41 and vehicle["SourceID"].startswith(CAMERA_ID + "02" + "20260302003005")
    assert len(vehicle["MotorVehicleID"]) == 48 and vehicle["MotorVehicleID"][41:43] == "02"
    assert vehicle["DeviceID"] == CAMERA_ID and vehicle["PlateNo"] == "京A12345" and vehicle["PlateColor"] == "6"
    assert viid.motor_vehicle(PLATE_RECORD, CAMERA_ID) == vehicle
    hidden = viid.motor_vehicle({k: v for k, v in PLATE_RECORD.items() if k not in ("plate", "colour")}, None)
    assert "PlateNo" not in hidden and "DeviceID" not in hidden and hidden["SourceID"].startswith("0" * 20)
    face = viid.face(PLATE_RECORD | {"person_id": "p-alice", "method": "face"}, CAMERA_ID)
    assert len(face["FaceID"]) == 48 and face["FaceID"][41:43] == "06" and face["SCPersonID"] == "p-alice"


def test_device_ids_are_validated_segment_by_segment():
    ids = viid.DeviceIds({("north", "cam-1"): CAMERA_ID}, {"north/cam-2": "11010500001320000002"})
    assert ids.get("north", "cam-1") == CAMERA_ID and ids.get("north", "cam-2") == "11010500001320000002"
    assert ids.get("north", "cam-3") is None
    with pytest.raises(IdentifierError, match="province"):
        viid.DeviceIds({}, {"north/cam-9": "99010500001320000001"})
    with pytest.raises(ValidationError, match="type code"):
        PoliceSettings(device_ids={"north/cam-1": "11010500000010000001"})
    with pytest.raises(ValidationError, match="site/device"):
        PoliceSettings(device_ids={"cam-1": CAMERA_ID})


def signed_export() -> tuple[bytes, str, str]:
    signer = ExportSigner(Ed25519PrivateKey.generate(), "k-test")
    ids = viid.DeviceIds({("north", "cam-1"): CAMERA_ID}, {})
    document = build_document(7, "A2026-001", None, "k-test", {"plates": [PLATE_RECORD]}, ids, TS)
    raw = canonical_json(document)
    return raw, signer.sign(raw).value, signer.public_key_pem()


def test_signature_verifies_and_tampering_fails():
    raw, signature, public_pem = signed_export()
    verify_export(raw, signature, public_pem)
    document = json.loads(raw)
    vehicle = document["MotorVehicleListObject"]["MotorVehicleObject"][0]
    assert vehicle["PlateNo"] == "京A12345" and document["SCExport"]["CaseNumber"] == "A2026-001"
    vehicle["PlateNo"] = "京A12346"
    with pytest.raises(SignatureError, match="does not match"):
        verify_export(canonical_json(document), signature, public_pem)
    with pytest.raises(SignatureError, match="does not match"):
        verify_export(raw + b" ", signature, public_pem)
    other_pem = ExportSigner(Ed25519PrivateKey.generate(), "k2").public_key_pem()
    with pytest.raises(SignatureError):
        verify_export(raw, signature, other_pem)
    with pytest.raises(SignatureError, match="base64"):
        verify_export(raw, "not base64!", public_pem)


def test_verify_cli(tmp_path):
    raw, signature, public_pem = signed_export()
    (tmp_path / "export.json").write_bytes(raw)
    (tmp_path / "export.sig").write_text(json.dumps({"algorithm": "Ed25519", "key_id": "k-test", "value": signature}))
    (tmp_path / "key.pem").write_text(public_pem)
    args = [str(tmp_path / "export.json"), str(tmp_path / "export.sig"), "--public-key", str(tmp_path / "key.pem")]
    result = CliRunner().invoke(verify_cli, args)
    assert result.exit_code == 0, result.output
    (tmp_path / "export.json").write_bytes(raw.replace("京A12345".encode(), "京A00000".encode()))
    result = CliRunner().invoke(verify_cli, args)
    assert result.exit_code == 1 and "INVALID" in result.output


def test_signing_key_from_environment(monkeypatch):
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    monkeypatch.setenv("SC_TEST_POLICE_KEY", pem.decode())
    signer = load_signer(ExportSettings(signing_key_env="SC_TEST_POLICE_KEY", key_id="k9"))
    verify_export(
        b"doc",
        signer.sign(b"doc").value,
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo),
    )
    monkeypatch.delenv("SC_TEST_POLICE_KEY")
    with pytest.raises(SigningKeyError, match="SC_TEST_POLICE_KEY"):
        load_signer(ExportSettings(signing_key_env="SC_TEST_POLICE_KEY", key_required=True))


def test_police_section_is_off_by_default_and_checks_the_link(tmp_path):
    assert ServerSettings().police.enabled is False
    path = tmp_path / "server.yaml"
    path.write_text("police:\n  enabled: true\n  push:\n    enabled: true\n")
    with pytest.raises(ConfigError, match=r"server\.yaml.*police.*endpoint_url, client_cert, client_key, ca_file"):
        load_settings(path)
    path.write_text("police:\n  enabled: true\n  platform_id: '123'\n")
    with pytest.raises(ConfigError, match="police.platform_id.*20 digits"):
        load_settings(path)
    path.write_text("police:\n  enabled: true\n  endpoint: x\n")
    with pytest.raises(ConfigError, match="police.endpoint"):
        load_settings(path)


def test_example_police_section_loads():
    settings = load_settings(REPO_ROOT / "configs" / "server" / "police.example.yaml").police
    assert settings.enabled and settings.link_ready() and settings.export.key_required
    assert [s.name for s in settings.push.subscriptions] == ["police-watchlist", "forced-doors"]
