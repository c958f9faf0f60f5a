"""The shared credential formats in protocol/: card numbers, PIN hashes and pass tokens, one implementation for
platform and gates (the server's signer and the edge's verifier meet only through these)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from edge.access.qr_pass import PassVerifier
from protocol.cards import CardFormatError, canonical_card
from protocol.passes import PassClaims, PassTokenError, check_claims, generate_private_key, verify_token
from protocol.pins import PinFormatError, PinHash, check_pin, hash_pin
from server.security.pass_tokens import PassSigner
from tests.conftest import REPO_ROOT

NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("printed", "canonical"),
    [
        ("0012345678", "12345678"),
        ("12345678", "12345678"),
        (" 1234 5678\n", "12345678"),
        ("0x00ab12", "AB12"),
        ("ab-12", "AB12"),
        ("0000", "0"),
        ("04:A2:2B:1A", "4A22B1A"),
    ],
)
def test_card_numbers_have_one_canonical_form(printed, canonical):
    assert canonical_card(printed) == canonical


@pytest.mark.parametrize("bad", ["", "  ", "12G4", "卡1234", "1" * 41])
def test_card_numbers_that_are_neither_decimal_nor_hex_are_refused(bad):
    with pytest.raises(CardFormatError):
        canonical_card(bad)


def test_pin_hash_is_salted_and_checked_by_account_and_pin():
    first, second = hash_pin("1201", "482913", log2_n=10), hash_pin("1201", "482913", log2_n=10)
    assert first != second and first.startswith("1201$scrypt$10$8$1$")
    assert check_pin(first, "1201", "482913") and check_pin(second, "1201", "482913")
    assert not check_pin(first, "1202", "482913") and not check_pin(first, "1201", "482914")
    assert not check_pin("garbage", "1201", "482913")
    assert PinHash.parse(first).account == "1201"
    fixed = hash_pin("a-1", "0000", log2_n=10, salt=b"s" * 16)
    assert fixed == hash_pin("a-1", "0000", log2_n=10, salt=b"s" * 16), "deterministic for a given salt"
    for account, pin in (("", "1234"), ("1201", "12"), ("1201", "12345678901234"), ("12 01", "1234")):
        with pytest.raises(PinFormatError):
            hash_pin(account, pin, log2_n=10)


def test_server_signed_token_verifies_at_the_gate_and_nowhere_else():
    key = generate_private_key()
    signer = PassSigner(key, "k7")
    claims = PassClaims("vp-1", "north", ("g1",), NOW - timedelta(hours=1), NOW + timedelta(hours=1), True, "p-1")
    token = signer.sign(claims)
    assert verify_token(token, {"k7": key.public_key()}) == PassClaims(**{**claims.__dict__, "key_id": "k7"})
    assert signer.verify(token)["id"] == "vp-1"
    gate = PassVerifier({"k7": key.public_key()}, site="north")
    assert gate.verify(token, "g1", NOW).host_person_id == "p-1"
    with pytest.raises(PassTokenError) as caught:
        check_claims(verify_token(token, {"k7": key.public_key()}), "north", "g2", NOW)
    assert caught.value.reason == "wrong-gate"
    with pytest.raises(PassTokenError) as caught:
        verify_token(token, {"k7": generate_private_key().public_key()})
    assert caught.value.reason == "pass-bad-signature"
    with pytest.raises(PassTokenError):
        PassSigner(key, "bad key id")


def test_protocol_formats_and_the_pass_module_load_without_opencv_or_the_server():
    code = (
        "import sys, protocol.passes, protocol.pins, protocol.cards, edge.access.qr_pass, edge.access.pin;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'cv2', 'numpy', 'server'});"
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
