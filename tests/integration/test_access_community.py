"""A simulated community day runs through the access layer and a real mosquitto: cards, PINs and QR passes
come in on simulated devices (passes decoded from camera frames), faces and plates as the vision modules
report them; doors and barriers move; decisions and alarms arrive at a plain MQTT subscriber."""

from __future__ import annotations

import json
import threading
import time as walltime
from collections import Counter
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import pytest

from devices.clock import ManualClock
from devices.community import Community, SimulatedGate
from edge.access import AccessConfig, AccessPoint, AccessPolicy, Allowlist, GateDevices, GateRunner, hash_pin
from edge.access.qr_pass import PassSigner, PassVerifier, VisitorPass, generate_private_key, public_key_text
from edge.access.used_passes import UsedPassStore
from edge.publisher import Confirm
from protocol.commands import AllowlistEntry
from tests.support.platform import edge_publisher
from tests.support.services import wait_until

pytestmark = pytest.mark.integration
DAY = date(2025, 6, 2)
TZ = ZoneInfo("Asia/Shanghai")
CREDENTIALS = {"card", "pin", "qr", "face", "plate"}


class Subscriber:
    """A plain paho subscriber collecting the device's events."""

    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[tuple[str, dict]] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="access-test-sub")
        self.client.on_connect = lambda c, *_: (c.subscribe(topic, qos=1), self.ready.set())
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _build(tmp_path, community: Community, clock: ManualClock, sink):
    """Policy, access points and simulated hardware for the community's gates."""
    signer = PassSigner(generate_private_key(), "k1")
    config = AccessConfig.model_validate(
        {
            "site": community.site,
            "doors": community.door_configs(),
            "passes": {
                "public_keys": {"k1": public_key_text(signer.private_key)},
                "used_store": str(tmp_path / "u.db"),
            },
        }
    )
    entries = [AllowlistEntry.model_validate(entry) for entry in community.credentials(DAY)]
    entries += [
        AllowlistEntry(
            kind="pin",
            value=hash_pin(account, pin, log2_n=10),
            person_id=r.person_id,
            credential_ref=f"pin-{r.person_id}",
            group=r.group,
        )
        for r, account, pin in community.pins()
    ]
    verifier = PassVerifier({"k1": signer.private_key.public_key()}, site=community.site)
    policy = AccessPolicy(
        config, Allowlist(entries), verifier=verifier, used_passes=UsedPassStore(config.passes.used_store)
    )
    hardware = SimulatedGate(community, clock)
    runner, points = GateRunner(keep_outcomes=True), {}
    for door in config.doors:
        devices = hardware.doors[door.id]
        point = AccessPoint(door.id, policy, devices.relay, sink, clock=clock)
        runner.add(point, GateDevices([devices.reader], [devices.keypad], [devices.camera], devices.sensor))
        points[door.id] = point

    def issue(pass_id, gate, not_before, expires):
        return signer.issue(VisitorPass(pass_id, community.site, (gate,), not_before, expires))

    return policy, hardware, runner, points, issue


def test_community_day_through_mosquitto(mosquitto, tmp_path):
    """A day at two gates: every decision matches the ground truth, alarms fire, and all of it reaches MQTT."""
    started = walltime.perf_counter()
    community = Community(gates=2, residents=30, visitors=6, deliveries=3, seed=11)
    clock = ManualClock(datetime.combine(DAY, time(0), TZ))
    # No platform here: the subscriber checks what reached the broker, so events leave the outbox on PUBACK.
    publisher = edge_publisher(
        mosquitto.port, tmp_path, site=community.site, device="gatebox-1", confirm=Confirm.BROKER
    )
    emitted = []

    def sink(body):
        emitted.append(body)
        publisher.send(body)

    subscriber = Subscriber(mosquitto.port, f"sc/v1/{community.site}/gatebox-1/event/#")
    assert subscriber.ready.wait(10)
    publisher.start()
    policy, hardware, runner, points, issue = _build(tmp_path, community, clock, sink)
    outcomes, last_activity = [], float("-inf")

    def run_until(target: datetime) -> None:
        """Advance simulated time, stepping finely while doors, cars or people are active."""
        nonlocal last_activity
        while clock.now() < target:
            remaining = (target - clock.now()).total_seconds()
            busy = hardware.next_action_at() is not None or clock.monotonic() - last_activity < 45
            if busy and remaining > 0.5:
                clock.advance(0.5)
            else:
                clock.advance_to(target)  # lands exactly: microsecond rounding cannot leave a sliver
            hardware.physics()
            if runner.step():
                last_activity = clock.monotonic()

    presentations = list(community.day(DAY, issue))
    for item in presentations:
        run_until(item.at)
        hardware.deliver(item)
        last_activity = clock.monotonic()
        if item.method == "face":
            outcomes.append((item, points[item.door].face(item.value, item.score)))
        elif item.method == "plate":
            outcomes.append((item, points[item.door].plate(item.value, item.score)))
        elif item.method in CREDENTIALS:
            before = len(runner.outcomes)
            run_until(clock.now() + timedelta(seconds=0.5))
            assert len(runner.outcomes) == before + 1, f"{item.method} at {item.door} produced no decision"
            outcomes.append((item, runner.outcomes[-1]))
    run_until(clock.now() + timedelta(minutes=2))

    # Every decision is the one the ground truth expects.
    wrong = [(i.method, i.actor, i.expect, o.result.value, o.reason) for i, o in outcomes if o.result.value != i.expect]
    assert not wrong, wrong
    reasons = Counter(o.reason for _, o in outcomes)
    replays = sum(1 for i, _ in outcomes if i.method == "qr" and i.expect == "denied")
    assert reasons["pass-replayed"] == replays >= 1
    assert reasons["unknown-card"] == 3
    assert {o.method.value for _, o in outcomes} == CREDENTIALS

    # Alarms: the intruder at 02:30, every door held open, the van followed through the barrier, every replay.
    alarms = Counter((a.alarm_type.value, a.door) for a in emitted if a.SCHEMA == "alarm")
    holds = sum(1 for i, o in outcomes if i.behaviour == "hold" and o.granted)
    assert holds >= 1
    assert alarms[("door_forced_open", "gate-1-in")] == 1
    assert sum(n for (kind, _), n in alarms.items() if kind == "door_held_open") == holds
    assert sum(n for (kind, _), n in alarms.items() if kind == "tailgating") == 1
    assert sum(n for (kind, _), n in alarms.items() if kind == "pass_replayed") == replays
    assert sum(alarms.values()) == 2 + holds + replays, alarms

    # Everything emitted reached the broker and the subscriber, in order, and left the outbox.
    wait_until(lambda: len(subscriber.messages) >= len(emitted), 30, message="all events at the subscriber")
    wait_until(lambda: publisher.depth() == 0, 10, message="outbox drained")
    publisher.stop()
    subscriber.stop()
    received = Counter(payload["schema"] for _, payload in subscriber.messages)
    assert received == Counter(body.SCHEMA for body in emitted)
    assert received["access.decision"] == len(outcomes)
    seqs = [payload["seq"] for _, payload in subscriber.messages]
    assert seqs == sorted(seqs)
    decisions = [p["data"] for _, p in subscriber.messages if p["schema"] == "access.decision"]
    assert Counter(d["result"] for d in decisions) == Counter(o.result.value for _, o in outcomes)
    assert all(d["reason"] for d in decisions)
    door_states = [p["data"] for _, p in subscriber.messages if p["schema"] == "door.state"]
    assert {"open", "closed", "forced_open", "held_open"} <= {d["state"] for d in door_states}
    print(
        f"community day: {len(presentations)} presentations, {len(emitted)} events, "
        f"{walltime.perf_counter() - started:.1f} s"
    )
