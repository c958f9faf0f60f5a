"""Device drivers without hardware: serial readers and relay boards on a pty pair, GPIO through gpiozero's
mock pin factory, and the scriptable simulators."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import pytest

from devices.card_reader import CardSwipe, SerialCardReader, SimulatedCardReader, parse_line
from devices.clock import ManualClock
from devices.errors import DeviceError
from devices.keypad import SimulatedKeypad
from devices.relay import GpioRelay, SerialRelay, SimulatedRelay, lcus_frame
from devices.sensors import GpioSensor, SimulatedSensor
from devices.wiegand import GpioWiegandReader, WiegandAccumulator
from edge.access.wiegand import decode_frame, encode_frame, swipe_card_number
from tests.support.services import wait_until

serial = pytest.importorskip("serial", reason="pyserial is the optional extra 'serial'")
mock_pins = pytest.importorskip("gpiozero.pins.mock", reason="gpiozero is the optional extra 'gpio'")


@pytest.fixture()
def pty_pair():
    """A pseudo-terminal: the driver opens the slave path, the test plays the device on the master fd."""
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_serial_card_reader_reads_lines(pty_pair):
    """Lines with CR/LF, leading zeros, noise bytes and raw frames become swipes; blank lines are ignored."""
    master, path = pty_pair
    reader = SerialCardReader("gate-1", path)
    try:
        frame = encode_frame(12, 3456, 26)
        os.write(master, b"0012345678\r\n\r\n\x02ABCD1234\x03\n" + frame.encode() + b"\n")
        swipes = []
        wait_until(
            lambda: swipes.append(reader.read(0.1)) or len([s for s in swipes if s]) >= 3, 5, message="three swipes"
        )
    finally:
        reader.close()
    got = [s for s in swipes if s]
    assert got[0] == CardSwipe("gate-1", "0012345678")
    assert got[1] == CardSwipe("gate-1", "ABCD1234")
    assert got[2].wiegand_bits == frame and swipe_card_number(got[2].card_number, got[2].wiegand_bits) == str(
        (12 << 16) | 3456
    )


def test_serial_card_reader_split_writes_are_joined(pty_pair):
    """A number arriving in pieces is one swipe."""
    master, path = pty_pair
    reader = SerialCardReader("gate-1", path)
    try:
        os.write(master, b"8765")
        time.sleep(0.3)
        os.write(master, b"4321\n")
        swipe = reader.read(3)
    finally:
        reader.close()
    assert swipe == CardSwipe("gate-1", "87654321")


def test_serial_card_reader_missing_port_is_a_device_error(tmp_path):
    """A port that does not exist raises DeviceError naming the reader."""
    with pytest.raises(DeviceError, match="gate-9"):
        SerialCardReader("gate-9", str(tmp_path / "ttyNOPE"))


def test_parse_line_edge_cases():
    """Only printable text counts; empty lines give nothing."""
    assert parse_line("r", b"\x00\x01\r") is None
    assert parse_line("r", b" 42 ") == CardSwipe("r", "42")


def test_serial_relay_board_writes_lcus_commands(pty_pair):
    """set and pulse send the on/off commands of an LCUS board; the pulse's off comes after its time."""
    master, path = pty_pair
    relay = SerialRelay(path, channel=2)
    try:
        relay.set(True)
        relay.set(False)
        relay.pulse(200)
        time.sleep(0.5)
        received = b""
        while len(received) < 16:
            received += os.read(master, 64)
    finally:
        relay.close()
    on, off = lcus_frame(2, True), lcus_frame(2, False)
    assert on == bytes([0xA0, 0x02, 0x01, 0xA3])
    assert received[:16] == on + off + on + off
    with pytest.raises(DeviceError):
        lcus_frame(9, True)


def test_gpio_relay_on_mock_pins():
    """The GPIO relay drives its pin; active-low boards invert it; pulse returns at once and ends by itself."""
    factory = mock_pins.MockFactory()
    relay = GpioRelay(17, pin_factory=factory)
    relay.set(True)
    assert factory.pin(17).state and relay.energised
    relay.set(False)
    assert not factory.pin(17).state
    relay.pulse(100)
    wait_until(lambda: factory.pin(17).state, 1, message="pulse on")
    wait_until(lambda: not factory.pin(17).state, 2, message="pulse off")
    low = GpioRelay(18, active_high=False, pin_factory=factory)
    low.set(True)
    assert not factory.pin(18).state
    relay.close()
    low.close()


def test_gpio_sensor_on_mock_pins():
    """A contact on a pin reports open/close changes in order."""
    factory = mock_pins.MockFactory()
    sensor = GpioSensor("door-1", 4, pull_up=False, bounce_s=None, pin_factory=factory)
    factory.pin(4).drive_high()
    factory.pin(4).drive_low()
    changes = [sensor.poll(1), sensor.poll(1)]
    sensor.close()
    assert [change.active for change in changes] == [True, False]


def test_gpio_wiegand_reader_on_mock_pins():
    """Pulses on D0/D1 are framed by the quiet gap and decode to the card that was sent."""
    factory = mock_pins.MockFactory()
    factory.pin(5).drive_high()
    factory.pin(6).drive_high()
    reader = GpioWiegandReader("gate-1", 5, 6, pin_factory=factory, gap_s=0.05)
    frame = encode_frame(200, 51234, 26)
    for bit in frame:
        pin = factory.pin(6 if bit == "1" else 5)
        pin.drive_low()
        pin.drive_high()
    swipe = reader.read(2)
    reader.close()
    assert swipe is not None and swipe.wiegand_bits == frame
    assert decode_frame(swipe.wiegand_bits).number == 51234


def test_wiegand_accumulator_splits_frames_on_the_gap():
    """Two frames separated by a quiet gap come out separately; poll flushes the last one."""
    frames = []
    acc = WiegandAccumulator(frames.append, gap_s=0.02)
    first, second = encode_frame(1, 2, 26), encode_frame(3, 4, 34)
    t = 0.0
    for bit in first:
        t += 0.002
        acc.bit(int(bit), t)
    t += 0.1
    for bit in second:
        acc.bit(int(bit), t)
        t += 0.002
    acc.poll(t + 0.001)
    assert frames == [first]
    acc.poll(t + 0.1)
    assert frames == [first, second]


def test_simulators_are_deterministic():
    """Simulated reader, keypad, sensor and relay replay their scripts and record with the injected clock."""
    reader = SimulatedCardReader("r", ["1", "2"])
    reader.present_frame(encode_frame(1, 1))
    assert [reader.read(0).card_number for _ in range(2)] == ["1", "2"] and reader.read(0).wiegand_bits
    assert reader.read(0) is None
    keypad = SimulatedKeypad("k", [("1201", "4829")])
    entry = keypad.read(0)
    assert (entry.account, entry.pin) == ("1201", "4829") and "4829" not in repr(entry)
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    sensor = SimulatedSensor("loop", clock=clock.monotonic)
    sensor.set(True)
    clock.advance(2)
    sensor.set(True)  # no change
    sensor.set(False)
    assert [(c.active, c.at) for c in (sensor.poll(0), sensor.poll(0))] == [(True, 0.0), (False, 2.0)]
    assert sensor.poll(0) is None
    relay = SimulatedRelay("r", clock=clock.monotonic)
    relay.pulse(1000)
    assert relay.energised
    clock.advance(1.5)
    assert not relay.energised
    relay.set(True)
    relay.set(True)
    assert relay.changes == [(3.5, True)]
