"""Credentials at the edge: Wiegand frames, PIN hashes and lock-out, QR visitor passes and their replay store."""

from __future__ import annotations

import json
import random
import string
from datetime import UTC, datetime, timedelta

import pytest

from edge.access.errors import CredentialFormatError, PassError, PassKeyError
from edge.access.pin import PinHash, PinLockout, hash_pin
from edge.access.qr_code import QrReader, render_qr
from edge.access.qr_pass import (
    PassSigner,
    PassVerifier,
    VisitorPass,
    _b64,
    _unb64,
    generate_private_key,
    load_public_key,
    public_key_text,
)
from edge.access.used_passes import UsedPassStore
from edge.access.wiegand import decode_frame, encode_frame, swipe_card_number

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)

# H10301 facility 1, card 1, worked by hand: the first 12 data bits hold one 1 -> even parity bit 1;
# the last 12 hold one 1 -> odd parity bit 0.
KNOWN_W26 = "1" + "00000001" + "0000000000000001" + "0"


def test_wiegand_26_known_frame_and_round_trip():
    """A known frame decodes; encode/decode round-trips; the card number is the whole data word."""
    assert encode_frame(1, 1, 26) == KNOWN_W26
    known = decode_frame(KNOWN_W26)
    assert (known.facility, known.number, known.card_number) == (1, 1, str(65537))
    card = decode_frame(encode_frame(123, 45678, 26))
    assert (card.bits, card.facility, card.number) == (26, 123, 45678)
    assert card.card_number == str((123 << 16) | 45678)


def test_wiegand_34_round_trip():
    """34-bit frames carry a 16-bit facility and a 16-bit number."""
    card = decode_frame(encode_frame(65535, 4242, 34))
    assert (card.bits, card.facility, card.number) == (34, 65535, 4242)


@pytest.mark.parametrize("bits", [26, 34])
def test_wiegand_parity_catches_every_single_bit_flip(bits):
    """Flipping any one bit of a valid frame fails the parity check."""
    frame = encode_frame(77, 31337, bits)
    for index in range(bits):
        flipped = frame[:index] + ("1" if frame[index] == "0" else "0") + frame[index + 1 :]
        with pytest.raises(CredentialFormatError, match="parity"):
            decode_frame(flipped)


def test_wiegand_refuses_other_lengths_and_digits():
    """Only 26/34 bits of 0 and 1."""
    with pytest.raises(CredentialFormatError, match="26 and 34"):
        decode_frame("0" * 37)
    with pytest.raises(CredentialFormatError, match="only 0 and 1"):
        decode_frame("2" * 26)
    with pytest.raises(CredentialFormatError, match="fit"):
        encode_frame(256, 1, 26)
    assert swipe_card_number("", encode_frame(1, 2, 26)) == str((1 << 16) | 2)
    assert swipe_card_number("0042", None) == "0042"
    with pytest.raises(CredentialFormatError):
        swipe_card_number("  ", None)


def test_pin_hash_is_salted_and_verifies():
    """Two hashes of one PIN differ (salt), both verify it, neither verifies another PIN, and no clear PIN is kept."""
    first, second = hash_pin("1201", "482913", log2_n=10), hash_pin("1201", "482913", log2_n=10)
    assert first != second and "482913" not in first and len(first) <= 128
    parsed = PinHash.parse(first)
    assert parsed.account == "1201"
    assert parsed.matches("482913") and PinHash.parse(second).matches("482913")
    assert not parsed.matches("482914") and not parsed.matches("abc")


@pytest.mark.parametrize("value", ["1201$md5$x", "1201$scrypt$40$8$1$AAAA$AAAA", "x"])
def test_pin_hash_refuses_malformed_values(value):
    """Values that are not scrypt PIN hashes with sane parameters are refused."""
    with pytest.raises(CredentialFormatError):
        PinHash.parse(value)


def test_pin_hash_refuses_bad_input():
    """Short PINs and odd accounts are refused at hashing time."""
    with pytest.raises(CredentialFormatError):
        hash_pin("1201", "12")
    with pytest.raises(CredentialFormatError):
        hash_pin("room 12", "123456")


def test_pin_lockout_counts_within_window_and_expires():
    """Five failures within the window lock out; the lock ends after its time; old failures fall out."""
    lockout = PinLockout(max_failures=3, window_s=60, lockout_s=300)
    assert not lockout.fail("k", NOW)
    assert not lockout.fail("k", NOW + timedelta(seconds=70))  # the first has left the window
    assert not lockout.fail("k", NOW + timedelta(seconds=80))
    assert lockout.fail("k", NOW + timedelta(seconds=90))
    assert lockout.locked("k", NOW + timedelta(seconds=389))
    assert not lockout.locked("k", NOW + timedelta(seconds=391))
    assert not lockout.locked("other", NOW + timedelta(seconds=100))


def _pass(**changes) -> VisitorPass:
    fields = {
        "pass_id": "v-0001",
        "site": "demo",
        "gates": ("north",),
        "not_before": NOW - timedelta(hours=1),
        "expires": NOW + timedelta(hours=1),
        "host_person_id": "p-001",
    }
    return VisitorPass(**{**fields, **changes})


@pytest.fixture(scope="module")
def keys():
    key = generate_private_key()
    return PassSigner(key, "k1"), PassVerifier(
        {"k1": load_public_key(public_key_text(key))}, site="demo", clock_skew_s=30
    )


def test_pass_valid_at_its_gate(keys):
    """A fresh pass verifies offline and carries its id, gates and host."""
    signer, verifier = keys
    verified = verifier.verify(signer.issue(_pass()), "north", NOW)
    assert verified.pass_id == "v-0001" and verified.gates == ("north",) and verified.host_person_id == "p-001"
    assert verified.key_id == "k1" and verified.single_use


@pytest.mark.parametrize(
    ("visitor_pass", "gate", "reason"),
    [
        (_pass(expires=NOW - timedelta(minutes=5)), "north", "expired"),
        (_pass(not_before=NOW + timedelta(minutes=5)), "north", "not-yet-valid"),
        (_pass(), "south", "wrong-gate"),
        (_pass(site="other-site"), "north", "wrong-site"),
    ],
)
def test_pass_refused_with_reason(keys, visitor_pass, gate, reason):
    """Expired, early, wrong gate and wrong site passes are refused with their reason codes."""
    signer, verifier = keys
    with pytest.raises(PassError) as caught:
        verifier.verify(signer.issue(visitor_pass), gate, NOW)
    assert caught.value.reason == reason


def test_pass_clock_skew_is_tolerated(keys):
    """A pass expired 10 s ago still passes with 30 s of tolerated skew."""
    signer, verifier = keys
    assert verifier.verify(signer.issue(_pass(expires=NOW - timedelta(seconds=10))), "north", NOW)


def test_pass_tampered_payload_and_signature_refused(keys):
    """Changing the gate list or a signature byte breaks the signature."""
    signer, verifier = keys
    prefix, payload, signature = signer.issue(_pass()).split(".")
    body = json.loads(_unb64(payload))
    body["gates"] = ["north", "south"]
    forged = f"{prefix}.{_b64(json.dumps(body, separators=(',', ':')).encode())}.{signature}"
    with pytest.raises(PassError) as caught:
        verifier.verify(forged, "south", NOW)
    assert caught.value.reason == "pass-bad-signature"
    raw = bytearray(_unb64(signature))
    raw[0] ^= 1
    with pytest.raises(PassError) as caught:
        verifier.verify(f"{prefix}.{payload}.{_b64(bytes(raw))}", "north", NOW)
    assert caught.value.reason == "pass-bad-signature"


def test_pass_signed_by_another_key_refused(keys):
    """A pass signed by an attacker's key under a known key id fails; an unknown key id is named as such."""
    _signer, verifier = keys
    attacker = PassSigner(generate_private_key(), "k1")
    with pytest.raises(PassError) as caught:
        verifier.verify(attacker.issue(_pass()), "north", NOW)
    assert caught.value.reason == "pass-bad-signature"
    with pytest.raises(PassError) as caught:
        verifier.verify(PassSigner(generate_private_key(), "k9").issue(_pass()), "north", NOW)
    assert caught.value.reason == "pass-unknown-key"


@pytest.mark.parametrize("token", ["", "hello", "SCP1.x.y", "SCP1.!!!.AAAA", "SCP2.e30.AAAA", "SCP1." + "A" * 2000])
def test_pass_garbage_is_malformed(keys, token):
    """Tokens that are not passes are refused as malformed, never raised as other errors."""
    _signer, verifier = keys
    with pytest.raises(PassError) as caught:
        verifier.verify(token, "north", NOW)
    assert caught.value.reason in {"pass-malformed", "pass-unknown-key"}


def test_pass_keys_load_from_pem_and_refuse_garbage():
    """Public keys load from PEM too; garbage keys raise PassKeyError."""
    from cryptography.hazmat.primitives import serialization

    key = generate_private_key()
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert public_key_text(load_public_key(pem.decode())) == public_key_text(key)
    with pytest.raises(PassKeyError):
        load_public_key("not-a-key")


def test_pass_qr_round_trip_through_opencv(keys):
    """A token rendered as a QR image decodes back to itself with OpenCV's detector and still verifies."""
    signer, verifier = keys
    token = signer.issue(_pass())
    image = render_qr(token, module_px=5)
    decoded = QrReader().decode(image)
    assert decoded == [token]
    assert verifier.verify(decoded[0], "north", NOW).pass_id == "v-0001"


def test_used_pass_store_refuses_replay_across_restart(tmp_path):
    """A claimed pass cannot be claimed again, even after the store is reopened; purge keeps unexpired passes."""
    path = tmp_path / "used.db"
    store = UsedPassStore(path)
    assert store.claim("v-1", "north", NOW, NOW + timedelta(hours=1))
    assert not store.claim("v-1", "south", NOW, NOW + timedelta(hours=1))
    store.close()
    reopened = UsedPassStore(path, keep_after_expiry_s=60)
    assert not reopened.claim("v-1", "north", NOW, NOW + timedelta(hours=1))
    assert reopened.purge(NOW + timedelta(minutes=30)) == 0 and reopened.used("v-1")
    assert reopened.purge(NOW + timedelta(hours=2)) == 1 and not reopened.used("v-1")


def test_every_pass_shown_to_a_camera_decodes():
    """Passes of a demo visitor's length held up to a 960x540 camera (4 px per module) all decode.

    Both OpenCV detectors alone fail on some such codes whatever the frame quality (13 of 200 here); the
    reader enlarges a located code that did not decode.
    """
    from devices.scene import SceneCamera

    rng = random.Random(4)
    alphabet = string.ascii_letters + string.digits + "-_"
    reader = QrReader()
    for _ in range(60):
        token = "SCP1." + "".join(rng.choice(alphabet) for _ in range(192)) + "."
        token += "".join(rng.choice(alphabet) for _ in range(86))
        camera = SceneCamera(960, 540, 8.0, noise=0.0)
        camera.show_qr(token, duration=1.0, start=0.0)
        assert reader.decode(camera.read()) == [token]
