"""Verify a police export: python -m server.police.verify export.json export.sig --public-key key.pem.

The .sig file holds the base64 signature, or the JSON {"algorithm", "key_id", "value"} the API returns.
Exit status 0 when the signature matches the exact bytes of the document, 1 when it does not, 2 on bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from server.police.signing import ALGORITHM, SignatureError, verify_export


def signature_value(text: str) -> str:
    """The base64 value from a .sig file (plain base64 or the API's JSON)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as err:
            raise SignatureError(f"signature file is not valid JSON: {err}") from err
        if document.get("algorithm") != ALGORITHM:
            raise SignatureError(f"unsupported algorithm {document.get('algorithm')!r}")
        return str(document.get("value", ""))
    return text


@click.command()
@click.argument("document", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("signature", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--public-key", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def main(document: Path, signature: Path, public_key: Path) -> None:
    """Check that SIGNATURE is a valid Ed25519 signature of DOCUMENT under the public key."""
    try:
        verify_export(document.read_bytes(), signature_value(signature.read_text()), public_key.read_bytes())
    except SignatureError as err:
        click.echo(f"INVALID: {err}", err=True)
        sys.exit(1)
    click.echo("OK: signature valid")


if __name__ == "__main__":
    main()
