"""Bulk imports from CSV and Excel: per-line errors, dry run, all-or-nothing apply, the CLI's report."""

from __future__ import annotations

import io

import pytest
from openpyxl import Workbook

from tests.support.api_world import USERNAMES, api_settings, build_world


def id_number(first17: str) -> str:
    from server.storage.identity import id_check_char

    return first17 + id_check_char(first17)


VALID_A = id_number("11010519800101123")
VALID_B = id_number("11010520150601456")
BAD_CHECK = VALID_A[:17] + ("0" if VALID_A[17] != "0" else "1")


@pytest.fixture()
def world(tmp_path):
    app, world = build_world(api_settings(f"sqlite:///{tmp_path}/sc.db"))
    with world.client:
        world.headers = {role: world.login(name) for role, name in USERNAMES.items()}
        yield app, world


def upload(world, kind: str, name: str, data: bytes, dry_run: bool, role: str = "manager", site: str = "north"):
    return world.client.post(
        f"/api/v1/imports/{kind}",
        headers=world.headers[role],
        files={"file": (name, data)},
        data={"site_id": site, "dry_run": str(dry_run).lower()},
    )


def residents_csv(*lines: str) -> bytes:
    return ("\ufeffname,phone,id_number,building,unit,room,relation\n" + "\n".join(lines) + "\n").encode()


def test_resident_errors_are_reported_per_line_and_nothing_is_written(world):
    _, world = world
    data = residents_csv(
        f"Frank,13812345678,{VALID_A},1,1,101,owner",
        f"Grace,12345,{VALID_B},1,1,101,family",
        f"Heidi,13812345679,{BAD_CHECK},1,1,102,tenant",
        f"Ivan,13812345670,{VALID_A},1,1,999,owner",
    )
    report = upload(world, "residents", "people.csv", data, dry_run=False).json()
    found = {(e["line"], e["field"]) for e in report["errors"]}
    assert found == {(3, "phone"), (4, "id_number"), (5, "id_number"), (5, "room")}
    messages = {(e["line"], e["field"]): e["message"] for e in report["errors"]}
    assert "check digit" in messages[(4, "id_number")]
    assert "duplicate of line 2" in messages[(5, "id_number")]
    assert "unknown room 1-1-999" in messages[(5, "room")]
    assert report["applied"] is False and report["valid"] == 1
    names = [
        p["name"]
        for p in world.client.get("/api/v1/persons", headers=world.headers["manager"], params={"limit": 100}).json()[
            "items"
        ]
    ]
    assert "Frank" not in names


def test_dry_run_then_apply_residents_from_excel(world):
    _, world = world
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Name", "Phone", "ID_number", "Building", "Unit", "Room"])
    sheet.append(["Judy", "13911112222", VALID_A, 1, 1, 101])
    sheet.append(["Ken", "+86 139 1111 3333", VALID_B, "1", "1", "102"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    dry = upload(world, "residents", "people.xlsx", buffer.getvalue(), dry_run=True).json()
    assert (dry["valid"], dry["errors"], dry["applied"]) == (2, [], False)
    done = upload(world, "residents", "people.xlsx", buffer.getvalue(), dry_run=False).json()
    assert done["applied"] is True
    judy = world.client.get("/api/v1/persons", headers=world.headers["manager"], params={"name": "Judy"}).json()
    assert judy["items"][0]["id_number"].endswith(VALID_A[-4:])
    again = upload(world, "residents", "people.xlsx", buffer.getvalue(), dry_run=True).json()
    assert {e["message"] for e in again["errors"]} == {"already registered at this site"}


def test_vehicle_errors_and_apply(world):
    _, world = world
    bad = (
        b"plate,colour,vehicle_type,owner_phone\n\xe4\xba\xacA12345,blue,car,\n\xe4\xba\xacE11111,blue,car,\n"
        + "京E11111,green,car,\nNOTAPLATE,blue,car,\n京F22222,blue,car,13000000000\n".encode()
    )
    report = upload(world, "vehicles", "cars.csv", bad, dry_run=False).json()
    errors = {(e["line"], e["field"]): e["message"] for e in report["errors"]}
    assert "already registered" in errors[(2, "plate")]
    assert "duplicate plate 京E11111 (line 3)" in errors[(4, "plate")]
    assert (5, "plate") in errors
    assert "no single person" in errors[(6, "owner_phone")]
    assert report["applied"] is False
    good = "plate,colour,vehicle_type,owner_phone\n京G33333,blue,car,13800138000\n".encode()
    done = upload(world, "vehicles", "cars.csv", good, dry_run=False).json()
    assert done["applied"] is True
    mine = world.client.get("/api/v1/vehicles", headers=world.headers["resident"]).json()["items"]
    assert "京G33333" in {v["plate"] for v in mine}, "owner found by phone: it is Alice's car now"


def test_import_outside_scope_and_bad_files(world):
    _, world = world
    assert upload(world, "residents", "x.csv", residents_csv(), True, site="south").status_code == 403
    assert upload(world, "residents", "x.txt", b"a,b\n", True, role="admin").status_code == 422
    assert upload(world, "residents", "x.xlsx", b"not a zip", True, role="admin").status_code == 422
    missing = upload(world, "residents", "x.csv", b"name,phone\nZed,13800000000\n", True, role="admin").json()
    assert {e["field"] for e in missing["errors"]} == {"id_number", "building", "unit", "room"}


def test_cli_import_prints_the_report_and_applies(tmp_path, monkeypatch, capsys):
    from server.__main__ import main

    app, _ = build_world(api_settings(f"sqlite:///{tmp_path}/sc.db"))
    app.state.platform.engine.dispose()
    config = tmp_path / "server.yaml"
    config.write_text(f"database:\n  url: sqlite:///{tmp_path}/sc.db\n  url_env: SC_TEST_UNSET_DATABASE_URL\n")
    source = tmp_path / "cars.csv"
    source.write_text("plate\n京H44444\n京H44444\n", encoding="utf-8")
    assert main(["--config", str(config), "import-vehicles", str(source), "--site", "north"]) == 1
    out = capsys.readouterr()
    assert "line 3: plate: duplicate plate 京H44444 (line 2)" in out.out
    assert "cars.csv" in out.err, "tqdm progress bar on stderr"
    source.write_text("plate\n京H44444\n", encoding="utf-8")
    assert main(["--config", str(config), "import-vehicles", str(source), "--site", "north", "--apply"]) == 0
    assert "1 valid, 0 error(s): applied" in capsys.readouterr().out
