#!/usr/bin/env python3
"""Print a ready-to-use compose `.env`: .env.example with every change-me secret replaced by a fresh random value.

Usage: python3 deploy/scripts/make-env.py [--production] > .env
Generates URL-safe hex passwords, a Fernet key for AUTH_TOTP_ENCRYPTION_KEY and an Ed25519 PEM for
AUTH_JWT_PRIVATE_KEY (openssl, or the `cryptography` package when openssl is missing). Standard library only.
"""

from __future__ import annotations

import base64
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / ".env.example"
ASSIGN = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")


def ed25519_pem() -> str:
    """A new Ed25519 private key as PKCS#8 PEM."""
    if shutil.which("openssl"):
        return subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ed25519"], check=True, capture_output=True, text=True
        ).stdout
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return (
        Ed25519PrivateKey.generate()
        .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        .decode()
    )


def secret_for(name: str) -> str:
    """A fresh value for one placeholder secret."""
    if name == "AUTH_JWT_PRIVATE_KEY":
        return '"' + ed25519_pem().replace("\n", "\\n") + '"'
    if name == "AUTH_TOTP_ENCRYPTION_KEY":
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if name == "FLOWER_BASIC_AUTH":
        return "admin:" + secrets.token_hex(16)
    return secrets.token_hex(24)


def main() -> int:
    """Write the filled-in env file to stdout."""
    production = "--production" in sys.argv[1:]
    for line in EXAMPLE.read_text().splitlines():
        m = ASSIGN.match(line)
        if m and "change-me" in m.group(2):
            line = f"{m.group(1)}={secret_for(m.group(1))}"
        elif m and production and m.group(1) == "ENV":
            line = "ENV=production"
        elif m and production and m.group(1) == "DOCS_ENABLED":
            line = "DOCS_ENABLED=false"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
