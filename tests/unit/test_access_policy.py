"""The access policy: every credential kind granted and refused for its reasons, schedules, anti-passback,
and the configuration rule that face may never be the only way in."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from edge.access.allowlist import Allowlist
from edge.access.config import FACE_ONLY_RULE, AccessConfig, Schedule, TimeWindow, Weekday, load_access_config
from edge.access.errors import AccessConfigError
from edge.access.pin import hash_pin
from edge.access.policy import AccessPolicy
from edge.access.qr_pass import PassSigner, PassVerifier, VisitorPass, generate_private_key
from edge.access.schedule import in_schedule
from edge.access.used_passes import UsedPassStore
from protocol.commands import AllowlistEntry, CredentialKind
from protocol.events import AlarmType, Method, Result

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_9 = datetime(2025, 6, 2, 9, 0, tzinfo=SHANGHAI)  # 2025-06-02 is a Monday


def _config(**changes) -> AccessConfig:
    data = {
        "site": "demo",
        "doors": [
            {"id": "north-in", "gate": "north", "methods": ["card", "pin", "qr", "face"], "anti_passback": True},
            {
                "id": "north-out",
                "gate": "north",
                "direction": "out",
                "methods": ["card", "face"],
                "anti_passback": True,
            },
            {"id": "staff-door", "gate": "north", "methods": ["card"], "groups": ["staff"]},
            {"id": "south-car", "gate": "south", "kind": "barrier", "methods": ["plate", "qr"]},
        ],
    }
    return AccessConfig.model_validate({**data, **changes})


def _entries() -> list[AllowlistEntry]:
    def entry(kind, value, ref, person=None, **extra):
        return AllowlistEntry(kind=kind, value=value, credential_ref=ref, person_id=person, **extra)

    return [
        entry(CredentialKind.CARD, "0012345678", "c-1", "p-1"),
        entry(CredentialKind.CARD, "22222222", "c-2", "p-2", gates=["south"]),
        entry(CredentialKind.CARD, "33333333", "c-3", "p-3", valid_until=datetime(2025, 1, 1, tzinfo=UTC)),
        entry(CredentialKind.CARD, "44444444", "c-4", "p-4", valid_from=datetime(2026, 1, 1, tzinfo=UTC)),
        entry(CredentialKind.CARD, "55555555", "c-5", "p-5", watchlist=True),
        entry(CredentialKind.CARD, "66666666", "c-6", "p-6", group="staff"),
        entry(CredentialKind.CARD, "77777777", "c-7", "p-7", group="visitors"),
        entry(CredentialKind.PIN, hash_pin("1201", "482913", log2_n=10), "pin-1", "p-1"),
        entry(CredentialKind.PLATE, "沪A·12345", "v-1", "p-1"),
        entry(
            CredentialKind.PLATE,
            "苏E D12345",
            "v-2",
            None,
            group="delivery",
            valid_until=datetime(2025, 6, 2, 12, tzinfo=SHANGHAI),
        ),
    ]


@pytest.fixture()
def signer() -> PassSigner:
    return PassSigner(generate_private_key(), "k1")


@pytest.fixture()
def policy(tmp_path, signer) -> AccessPolicy:
    verifier = PassVerifier({"k1": signer.private_key.public_key()}, site="demo")
    return AccessPolicy(
        _config(), Allowlist(_entries()), verifier=verifier, used_passes=UsedPassStore(tmp_path / "u.db")
    )


@pytest.mark.parametrize(
    ("card", "door", "result", "reason"),
    [
        ("12345678", "north-in", Result.GRANTED, "allowlisted"),  # leading zeros do not matter
        ("99999999", "north-in", Result.DENIED, "unknown-card"),
        ("22222222", "north-in", Result.DENIED, "wrong-gate"),
        ("33333333", "north-in", Result.DENIED, "expired"),
        ("44444444", "north-in", Result.DENIED, "not-yet-valid"),
        ("55555555", "north-in", Result.DENIED, "watchlist"),
        ("12345678", "staff-door", Result.DENIED, "group-not-allowed"),
        ("66666666", "staff-door", Result.GRANTED, "allowlisted"),
        ("12345678", "south-car", Result.DENIED, "method-not-allowed"),
    ],
)
def test_card_decisions(policy, card, door, result, reason):
    """Cards are granted only when known, valid, at the right gate and group; each refusal names its reason."""
    outcome = policy.decide_card(card, door, MONDAY_9)
    assert (outcome.result, outcome.reason) == (result, reason)
    assert outcome.method is Method.CARD and outcome.door == door


def test_card_event_carries_refs_not_numbers(policy):
    """The event names the person and credential ref, never the card number."""
    event = policy.decide_card("12345678", "north-in", MONDAY_9).event(latency_ms=1.0)
    assert (event.person_id, event.credential_ref, event.gate) == ("p-1", "c-1", "north")
    assert "12345678" not in event.model_dump_json()


def test_watchlist_raises_an_alarm(policy):
    """A watchlisted card is refused with a critical alarm that holds no personal data."""
    outcome = policy.decide_card("55555555", "north-in", MONDAY_9)
    assert [alarm.alarm_type for alarm in outcome.alarms] == [AlarmType.WATCHLIST_HIT]
    assert "p-5" not in outcome.alarms[0].model_dump_json()


def test_visitor_group_outside_schedule(policy):
    """Visitors' cards work 07:00-22:00 Shanghai time only."""
    assert policy.decide_card("77777777", "north-in", MONDAY_9).granted
    late = policy.decide_card("77777777", "north-in", MONDAY_9.replace(hour=23))
    assert (late.result, late.reason) == (Result.DENIED, "outside-schedule")


def test_pin_valid_wrong_and_lockout(policy):
    """A right PIN grants; wrong ones are refused, and the fifth starts a lock-out with an alarm that even the
    right PIN cannot pass until it ends."""
    assert policy.decide_pin("1201", "482913", "north-in", MONDAY_9).granted
    alarms = []
    for attempt in range(5):
        outcome = policy.decide_pin("1201", "000000", "north-in", MONDAY_9 + timedelta(seconds=attempt))
        assert outcome.reason == "wrong-pin"
        alarms.extend(outcome.alarms)
    assert {alarm.alarm_type for alarm in alarms} == {AlarmType.PIN_LOCKOUT} and len(alarms) == 2  # account, keypad
    locked = policy.decide_pin("1201", "482913", "north-in", MONDAY_9 + timedelta(seconds=10))
    assert (locked.result, locked.reason) == (Result.DENIED, "pin-locked-out")
    later = policy.decide_pin("1201", "482913", "north-in", MONDAY_9 + timedelta(minutes=16))
    assert later.reason in {"allowlisted", "anti-passback"}  # the lock-out is over


def test_pin_unknown_account_counts_as_wrong(policy):
    """An unknown account looks like a wrong PIN (no account enumeration from the keypad)."""
    outcome = policy.decide_pin("9999", "482913", "north-in", MONDAY_9)
    assert (outcome.result, outcome.reason) == (Result.DENIED, "wrong-pin")


def _visitor(signer, **changes) -> str:
    fields = {
        "pass_id": "v-9",
        "site": "demo",
        "gates": ("north",),
        "not_before": MONDAY_9 - timedelta(hours=1),
        "expires": MONDAY_9 + timedelta(hours=2),
    }
    return signer.issue(VisitorPass(**{**fields, **changes}))


def test_qr_valid_then_replayed(policy, signer):
    """A single-use pass grants once; showing it again is a replay."""
    token = _visitor(signer)
    first = policy.decide_qr(token, "north-in", MONDAY_9)
    assert (first.result, first.reason, first.pass_id) == (Result.GRANTED, "visitor-pass", "v-9")
    again = policy.decide_qr(token, "north-in", MONDAY_9 + timedelta(minutes=1))
    assert (again.result, again.reason) == (Result.DENIED, "pass-replayed")
    assert [a.alarm_type for a in again.alarms] == [AlarmType.PASS_REPLAYED] and not first.alarms
    assert again.alarms[0].door == "north-in" and "v-9" not in again.alarms[0].detail


def test_qr_multi_use_pass_and_refusals(policy, signer):
    """A multi-use pass grants twice; expired, wrong-gate and tampered passes are refused and not consumed."""
    multi = _visitor(signer, pass_id="v-multi", single_use=False)
    assert policy.decide_qr(multi, "north-in", MONDAY_9).granted
    assert policy.decide_qr(multi, "south-car", MONDAY_9).reason == "wrong-gate"
    expired = _visitor(
        signer, pass_id="v-old", expires=MONDAY_9 - timedelta(hours=1), not_before=MONDAY_9 - timedelta(hours=3)
    )
    assert policy.decide_qr(expired, "north-in", MONDAY_9).reason == "expired"
    tampered = _visitor(signer, pass_id="v-t")[:-3] + "AAA"
    assert policy.decide_qr(tampered, "north-in", MONDAY_9).reason == "pass-bad-signature"
    assert not policy.used_passes.used("v-old") and not policy.used_passes.used("v-t")


def test_qr_is_refused_outside_visitor_hours_without_consuming(policy, signer):
    """A pass shown at 06:00 is refused by the visitor schedule and stays usable."""
    token = _visitor(signer, pass_id="v-early", not_before=MONDAY_9 - timedelta(hours=5))
    early = policy.decide_qr(token, "north-in", MONDAY_9.replace(hour=6))
    assert early.reason == "outside-schedule" and not policy.used_passes.used("v-early")
    assert policy.decide_qr(token, "north-in", MONDAY_9).granted


def test_face_decisions(policy):
    """Faces: known and confident grants, low score and unknown are refused, watchlisted persons alarm."""
    assert policy.decide_face("p-1", 0.9, "north-in", MONDAY_9).reason == "face-match"
    assert policy.decide_face("p-2", 0.4, "north-in", MONDAY_9).reason == "low-score"
    assert policy.decide_face(None, 0.0, "north-in", MONDAY_9).reason == "unknown-face"
    watch = policy.decide_face("p-5", 0.95, "north-in", MONDAY_9)
    assert watch.reason == "watchlist" and watch.alarms[0].alarm_type is AlarmType.WATCHLIST_HIT
    assert policy.decide_face("p-1", 0.9, "staff-door", MONDAY_9).reason == "method-not-allowed"


def test_plate_decisions(policy):
    """Plates: normalised lookup, low confidence refused, expired delivery entry refused, unknown refused."""
    assert policy.decide_plate("沪A12345", "south-car", MONDAY_9, 0.95).granted
    assert policy.decide_plate("沪A12345", "south-car", MONDAY_9, 0.5).reason == "low-score"
    assert policy.decide_plate("苏ED12345", "south-car", MONDAY_9, 0.95).granted
    assert policy.decide_plate("苏ED12345", "south-car", MONDAY_9 + timedelta(hours=4), 0.95).reason == "expired"
    assert policy.decide_plate("京B99999", "south-car", MONDAY_9, 0.95).reason == "unknown-plate"
    assert policy.decide_plate("沪A12345", "north-in", MONDAY_9, 0.95).reason == "method-not-allowed"


def _serial_policy(tmp_path, entries=None) -> AccessPolicy:
    """A policy with the serial match on (plate_serial_match_below 0.5)."""
    config = _config(plate_serial_match_below=0.5)
    allowlist = Allowlist(_entries() if entries is None else entries)
    return AccessPolicy(config, allowlist, used_passes=UsedPassStore(tmp_path / "u.db"))


def test_plate_with_an_unsure_province_matches_on_its_serial(tmp_path):
    """The province character, the one cameras misread most, may be discounted when it is unsure."""
    policy = _serial_policy(tmp_path)
    # 沪A12345 is registered (v-1); the camera read 皖 with little confidence, the rest surely
    matched = policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.83, province_confidence=0.3, serial_score=0.97)
    assert matched.granted and matched.reason == "serial-match" and matched.credential_ref == "v-1"
    assert matched.score == 0.97
    # the whole read is weak because of the province alone: still matched on the serial
    weak = policy.decide_plate("皖A12345", "south-car", MONDAY_9 + timedelta(hours=1), 0.7, 0.05, 0.96)
    assert weak.reason == "serial-match"


def test_a_sure_or_absent_province_never_matches_on_the_serial(tmp_path):
    policy = _serial_policy(tmp_path)
    # a surely read province names another vehicle with the same serial
    sure = policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.97, province_confidence=0.9, serial_score=0.97)
    assert sure.reason == "unknown-plate"
    # no province confidence given (an older caller): exact match only
    assert policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.97).reason == "unknown-plate"
    # an unsure serial is not matched either
    weak = policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.6, province_confidence=0.3, serial_score=0.7)
    assert weak.reason == "low-score"


def test_serial_match_is_refused_when_two_vehicles_share_the_serial(tmp_path):
    entries = [
        AllowlistEntry(kind=CredentialKind.PLATE, value="沪A12345", credential_ref="v-1", person_id="p-1"),
        AllowlistEntry(kind=CredentialKind.PLATE, value="苏A12345", credential_ref="v-9", person_id="p-9"),
    ]
    policy = _serial_policy(tmp_path, entries)
    outcome = policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.83, province_confidence=0.3, serial_score=0.97)
    assert (outcome.result, outcome.reason) == (Result.DENIED, "ambiguous-plate")
    # the exact plate of either still opens
    assert policy.decide_plate("苏A12345", "south-car", MONDAY_9, 0.95, 0.3, 0.97).credential_ref == "v-9"


def test_serial_match_is_off_by_default(policy):
    outcome = policy.decide_plate("皖A12345", "south-car", MONDAY_9, 0.83, province_confidence=0.01, serial_score=0.99)
    assert outcome.reason == "unknown-plate"


def test_anti_passback_across_methods(policy):
    """Entering twice without leaving is refused whatever the credential; leaving resets it."""
    assert policy.decide_card("12345678", "north-in", MONDAY_9).granted
    again = policy.decide_face("p-1", 0.9, "north-in", MONDAY_9 + timedelta(minutes=1))
    assert (again.result, again.reason) == (Result.DENIED, "anti-passback")
    assert policy.decide_card("12345678", "north-out", MONDAY_9 + timedelta(minutes=2)).granted
    assert policy.decide_face("p-1", 0.9, "north-in", MONDAY_9 + timedelta(minutes=3)).granted


def test_anti_passback_resets_after_its_time(policy):
    """Someone marked inside for longer than the reset time may enter again (missed exit read)."""
    assert policy.decide_card("12345678", "north-in", MONDAY_9).granted
    assert policy.decide_card("12345678", "north-in", MONDAY_9 + timedelta(hours=13)).granted


def test_exit_is_never_blocked_by_anti_passback(policy):
    """Two exits in a row are both allowed (nobody is locked in)."""
    assert policy.decide_card("12345678", "north-out", MONDAY_9).granted
    assert policy.decide_card("12345678", "north-out", MONDAY_9 + timedelta(minutes=1)).granted


def test_schedules_weekdays_overnight_and_timezone():
    """Weekday windows, windows past midnight and the timezone are honoured."""
    weekdays = Schedule(
        windows=[
            TimeWindow(
                days=[Weekday.MON, Weekday.TUE, Weekday.WED, Weekday.THU, Weekday.FRI], start=time(8), end=time(18)
            )
        ]
    )
    assert in_schedule(weekdays, MONDAY_9, SHANGHAI)
    assert not in_schedule(weekdays, MONDAY_9 + timedelta(days=5), SHANGHAI)  # Saturday
    assert not in_schedule(weekdays, MONDAY_9.replace(hour=18), SHANGHAI)  # end is exclusive
    # 09:00 Shanghai is 01:00 UTC: evaluated in Shanghai time it is inside, in UTC it would not be.
    assert in_schedule(weekdays, MONDAY_9.astimezone(UTC), SHANGHAI)
    assert not in_schedule(weekdays, MONDAY_9.astimezone(UTC), ZoneInfo("UTC"))
    night = Schedule(windows=[TimeWindow(days=[Weekday.FRI], start=time(22), end=time(6))])
    friday = MONDAY_9 + timedelta(days=4)
    assert in_schedule(night, friday.replace(hour=23), SHANGHAI)
    assert in_schedule(night, (friday + timedelta(days=1)).replace(hour=5), SHANGHAI)  # Saturday early morning
    assert not in_schedule(night, (friday + timedelta(days=1)).replace(hour=23), SHANGHAI)
    assert not in_schedule(night, friday.replace(hour=5), SHANGHAI)  # Thursday's night is not scheduled
    with pytest.raises(ValueError):
        in_schedule(night, datetime(2025, 6, 2, 9), SHANGHAI)


def test_face_only_door_is_refused_citing_the_rule():
    """A door whose only method is face does not validate, and the message cites the law."""
    with pytest.raises(ValueError) as caught:
        _config(doors=[{"id": "lobby", "gate": "north", "methods": ["face"]}])
    assert FACE_ONLY_RULE in str(caught.value) and "Art. 10" in str(caught.value)
    with pytest.raises(ValueError, match="only way"):
        _config(doors=[{"id": "lobby", "gate": "north", "methods": ["face", "remote"]}])
    assert _config(doors=[{"id": "lobby", "gate": "north", "methods": ["face", "card"]}])


def test_config_refusals_name_file_and_field(tmp_path):
    """Bad configs fail with the file and the field in the message; unknown keys are refused."""
    path = tmp_path / "access.yaml"
    path.write_text("site: demo\ndoors:\n  - {id: lobby, gate: north, methods: [face]}\n", encoding="utf-8")
    with pytest.raises(AccessConfigError) as caught:
        load_access_config(path)
    assert str(path) in str(caught.value) and "doors.0" in str(caught.value) and "Art. 10" in str(caught.value)
    path.write_text("site: demo\ncolour: red\ndoors:\n  - {id: lobby, gate: north, methods: [card]}\n")
    with pytest.raises(AccessConfigError, match="colour"):
        load_access_config(path)
    path.write_text("site: demo\ntimezone: Mars/Olympus\ndoors:\n  - {id: lobby, gate: north, methods: [card]}\n")
    with pytest.raises(AccessConfigError, match="timezone"):
        load_access_config(path)
    with pytest.raises(ValueError, match="plates open barriers"):
        _config(doors=[{"id": "lobby", "gate": "north", "methods": ["card", "plate"]}])
    with pytest.raises(ValueError, match="without a schedule"):
        _config(doors=[{"id": "lobby", "gate": "north", "methods": ["card"], "groups": ["cleaners"]}])
    with pytest.raises(ValueError, match="unique"):
        _config(doors=[{"id": "a", "gate": "n", "methods": ["card"]}, {"id": "a", "gate": "n", "methods": ["pin"]}])
    assert load_access_config(_write(tmp_path, "site: demo\ndoors:\n  - {id: a, gate: n, methods: [card]}\n")).doors


def _write(tmp_path, text: str):
    path = tmp_path / "ok.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_config_field_has_a_description():
    """Convention: every config field is described."""
    from edge.access import config as module

    for model in (
        module.AccessConfig,
        module.DoorConfig,
        module.TimeWindow,
        module.Schedule,
        module.PinPolicy,
        module.PassPolicy,
    ):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"


def test_allowlist_sync_swaps_snapshot(policy):
    """Incremental updates and person erasure change decisions at once."""
    allowlist = policy.allowlist
    allowlist.apply(
        [AllowlistEntry(kind=CredentialKind.CARD, value="88888888", credential_ref="c-8", person_id="p-8")],
        removes=["c-1"],
        version=2,
    )
    assert policy.decide_card("88888888", "north-in", MONDAY_9).granted
    assert policy.decide_card("12345678", "north-in", MONDAY_9).reason == "unknown-card"
    assert allowlist.remove_person("p-8") == 1
    assert policy.decide_card("88888888", "north-in", MONDAY_9).reason == "unknown-card"
    assert allowlist.version == 2
