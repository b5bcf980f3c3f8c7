"""Keys and secrets: JWT signing (Ed25519, JWKS), TOTP (pyotp, encrypted seeds), hashed one-time codes."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from auth.config import AuthSettings
from shared.auth import TokenSigner, TokenVerifier, key_id, public_jwk
from shared.revocation import RevocationList

TOTP_PERIOD = 30
TOTP_DIGITS = 6
TOTP_WINDOW = 1
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (i/l/1, o/0)


def _pem(value: str) -> bytes:
    # env files often carry PEMs on one line with literal "\n"
    return value.replace("\\n", "\n").strip().encode()


def _read_or_create(path: Path, make: Any) -> bytes:
    """The secret stored at `path`, created with mode 0600 on first use (race-safe across processes)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process may be writing it right now
            data = path.read_bytes()
            if data:
                return data
            time.sleep(0.05)
        raise RuntimeError(f"{path} is empty") from None
    data: bytes = make()
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return data


def load_signing_key(settings: AuthSettings) -> Ed25519PrivateKey:
    """AUTH_JWT_PRIVATE_KEY, else a key generated once into {VAR_DIR}/keys (development/testing only)."""
    if settings.jwt_private_key:
        key = load_pem_private_key(_pem(settings.jwt_private_key), password=None)
    else:
        if not settings.is_dev:
            raise RuntimeError("AUTH_JWT_PRIVATE_KEY must be set in production")
        pem = _read_or_create(
            settings.var_dir / "keys" / "auth-ed25519.pem",
            lambda: Ed25519PrivateKey.generate().private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        )
        key = load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError("AUTH_JWT_PRIVATE_KEY must be an Ed25519 private key")
    return key


def load_previous_public_keys(settings: AuthSettings) -> list[Ed25519PublicKey]:
    """Public keys of earlier signing keys, kept in the JWKS until their tokens have expired."""
    out: list[Ed25519PublicKey] = []
    text = _pem(settings.jwt_previous_public_keys).decode()
    marker = "-----END PUBLIC KEY-----"
    for block in text.split(marker):
        if "BEGIN PUBLIC KEY" in block:
            key = load_pem_public_key((block.strip() + "\n" + marker + "\n").encode())
            if isinstance(key, Ed25519PublicKey):
                out.append(key)
    return out


class KeyRing:
    """Signs tokens with the current key and verifies them against the published key set."""

    def __init__(
        self,
        settings: AuthSettings,
        private_key: Ed25519PrivateKey | None = None,
        revocations: RevocationList | None = None,
    ) -> None:
        key = private_key or load_signing_key(settings)
        self.signer = TokenSigner(key, settings.jwt_issuer, settings.jwt_audience)
        self.previous = load_previous_public_keys(settings)
        self.verifier = TokenVerifier(
            None, settings.jwt_issuer, settings.jwt_audience, jwks_provider=self.jwks, refetch_interval_s=60,
            revocations=revocations,
        )
        self.verifier.refresh(force=True)

    @property
    def kid(self) -> str:
        """Key id of the current signing key."""
        return self.signer.kid

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The current public key plus any previous ones (rotation overlap)."""
        keys = [public_jwk(self.signer.private_key.public_key(), self.signer.kid)]
        keys += [public_jwk(k, key_id(k)) for k in self.previous]
        return {"keys": keys}

    def issue(self, typ: str, sub: int, ttl_s: int, **extra: Any) -> tuple[str, dict[str, Any]]:
        """A signed token of type `typ`."""
        return self.signer.issue(typ, sub, ttl_s, **extra)

    def verify(self, token: str, typ: str) -> dict[str, Any]:
        """Claims of a valid token of type `typ` (EdDSA pinned, iss/aud/exp checked); Unauthorized otherwise."""
        return self.verifier.verify(token, expected_type=typ)


def sha256_hex(value: str) -> str:
    """SHA-256 of a high-entropy token (enough for ≥128-bit random tokens)."""
    return hashlib.sha256(value.encode()).hexdigest()


def new_link_token() -> tuple[str, str]:
    """(token for the link, hash to store): 256 random bits."""
    token = secrets.token_urlsafe(32)
    return token, sha256_hex(token)


class SecretBox:
    """Encrypts TOTP seeds at rest (Fernet) and keys the hashes of short codes (HMAC pepper)."""

    def __init__(self, settings: AuthSettings) -> None:
        if settings.totp_encryption_key:
            key = settings.totp_encryption_key.strip().encode()
        else:
            if not settings.is_dev:
                raise RuntimeError("AUTH_TOTP_ENCRYPTION_KEY must be set in production")
            key = _read_or_create(settings.var_dir / "keys" / "auth-totp.key", Fernet.generate_key).strip()
        self._fernet = Fernet(key)
        # short codes (6 digits, recovery codes) are too small for a plain hash: key it with a secret
        # that lives outside the database, so a DB dump alone cannot brute-force them
        self._pepper = hashlib.sha256(b"sharemyshows-auth-code-pepper:" + key).digest()

    def encrypt(self, plaintext: str) -> str:
        """Encrypt a secret for storage."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str | None:
        """The stored secret, or None when it cannot be decrypted (wrong key)."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken:
            return None

    def code_hash(self, code: str, scope: str) -> str:
        """Keyed hash of a short code bound to a scope (user and purpose)."""
        return hmac.new(self._pepper, f"{scope}:{code}".encode(), hashlib.sha256).hexdigest()


def new_numeric_code() -> str:
    """A 6-digit code from the CSPRNG."""
    return f"{secrets.randbelow(10**6):06d}"


def new_recovery_code() -> str:
    """A recovery code like `k7hq2-9xmwp` (50 random bits)."""
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


def normalize_code(code: str) -> str:
    """Codes as typed: spaces and dashes dropped, lower-cased."""
    return "".join(ch for ch in code.lower() if ch not in " -\t")


# ---------------------------------------------------------------- TOTP


def new_totp_secret() -> str:
    """A base32 TOTP seed (160 bits) from the CSPRNG."""
    return pyotp.random_base32(32)


def totp_uri(secret: str, username: str, issuer: str) -> str:
    """The otpauth:// provisioning URI (label = username)."""
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD).provisioning_uri(
        name=username, issuer_name=issuer
    )


def qr_svg_data_uri(uri: str) -> str:
    """An SVG QR code of `uri` as a data URI."""
    svg = segno.make(uri, error="m").svg_data_uri(scale=4)
    return str(svg)


def totp_match_step(secret: str, code: str, now: float | None = None, window: int = TOTP_WINDOW) -> int | None:
    """The time step (within ±window) whose code equals `code`, or None."""
    if len(code) != TOTP_DIGITS or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD)
    current = int((time.time() if now is None else now) // TOTP_PERIOD)
    found: int | None = None
    for step in range(current - window, current + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            found = step  # keep the latest matching step; no early exit (constant work)
    return found
