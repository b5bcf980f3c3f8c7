"""Token signing/verification, key handling, TOTP window, secret encryption and code hashing."""

from __future__ import annotations

import base64
import json
import stat
import time
from pathlib import Path

import jwt
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import ValidationError

from auth.config import AuthSettings
from auth.security import (
    KeyRing,
    SecretBox,
    new_link_token,
    new_numeric_code,
    new_recovery_code,
    normalize_code,
    qr_svg_data_uri,
    sha256_hex,
    totp_match_step,
    totp_uri,
)
from shared.errors import Unauthorized


def _settings(tmp_path: Path, **kw: object) -> AuthSettings:
    return AuthSettings(ENV="testing", VAR_DIR=str(tmp_path), **kw)  # type: ignore[arg-type]


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def keys(tmp_path: Path) -> KeyRing:
    return KeyRing(_settings(tmp_path))


def test_generated_key_is_private_and_reused(tmp_path: Path) -> None:
    first = KeyRing(_settings(tmp_path))
    path = tmp_path / "keys" / "auth-ed25519.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KeyRing(_settings(tmp_path)).kid == first.kid


def test_production_refuses_to_start_without_keys(tmp_path: Path) -> None:
    with pytest.raises(ValidationError):
        AuthSettings(ENV="production", VAR_DIR=str(tmp_path), INTERNAL_TOKEN="real-secret")  # type: ignore[arg-type]


def test_configured_pem_key_and_previous_keys_in_jwks(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

    current = Ed25519PrivateKey.generate()
    old = Ed25519PrivateKey.generate()
    pem = current.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    old_pub = old.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    ring = KeyRing(_settings(tmp_path, jwt_private_key=pem.replace("\n", "\\n"), jwt_previous_public_keys=old_pub))
    kids = [k["kid"] for k in ring.jwks()["keys"]]
    assert len(kids) == 2 and kids[0] == ring.kid
    assert not (tmp_path / "keys" / "auth-ed25519.pem").exists()
    # a token of the previous key still verifies during the overlap
    from shared.auth import TokenSigner

    old_token, _ = TokenSigner(old, "sharemyshows-auth", "sharemyshows").access_token(1, "a")
    assert ring.verify(old_token, "access")["sub"] == "1"


def test_access_token_claims(keys: KeyRing) -> None:
    token, claims = keys.signer.access_token(7, "alice", 3600)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == keys.kid
    verified = keys.verify(token, "access")
    assert verified["sub"] == "7" and verified["name"] == "alice" and verified["typ"] == "access"
    assert verified["csrf"] and verified["jti"] and verified["exp"] - verified["iat"] == 3600
    assert claims["iss"] == "sharemyshows-auth" and claims["aud"] == "sharemyshows"


def test_token_types_are_not_interchangeable(keys: KeyRing) -> None:
    refresh, _ = keys.issue("refresh", 7, 3600, fam="f1")
    mfa, _ = keys.issue("mfa", 7, 300)
    for token in (refresh, mfa):
        with pytest.raises(Unauthorized):
            keys.verify(token, "access")
    with pytest.raises(Unauthorized):
        keys.verify(keys.signer.access_token(7, "a")[0], "refresh")


def test_expired_token_is_rejected(keys: KeyRing) -> None:
    token, _ = keys.issue("access", 7, -120, name="a", csrf="x")
    with pytest.raises(Unauthorized) as err:
        keys.verify(token, "access")
    assert err.value.code == "token_expired"


def test_tampered_tokens_are_rejected(keys: KeyRing, tmp_path: Path) -> None:
    token, claims = keys.signer.access_token(7, "alice")
    head, body, sig = token.split(".")
    # payload changed, signature kept
    forged_body = _b64({**claims, "sub": "8"})
    with pytest.raises(Unauthorized):
        keys.verify(f"{head}.{forged_body}.{sig}", "access")
    # alg none
    none_head = _b64({"alg": "none", "typ": "JWT", "kid": keys.kid})
    with pytest.raises(Unauthorized):
        keys.verify(f"{none_head}.{body}.", "access")
    # signed by another key that claims our kid / an unknown kid
    other = Ed25519PrivateKey.generate()
    forged = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": keys.kid})
    with pytest.raises(Unauthorized):
        keys.verify(forged, "access")
    unknown = jwt.encode(claims, other, algorithm="EdDSA", headers={"kid": "unknown-kid"})
    with pytest.raises(Unauthorized):
        keys.verify(unknown, "access")
    # HS256 "signed" with the public key bytes (key confusion)
    pub = keys.signer.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    hs = jwt.encode(claims, pub * 2, algorithm="HS256", headers={"kid": keys.kid})
    with pytest.raises(Unauthorized):
        keys.verify(hs, "access")


@pytest.mark.parametrize(("offset", "ok"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_totp_window_is_one_step(offset: int, ok: bool) -> None:
    secret = pyotp.random_base32()
    now = 1_800_000_015.0
    step = int(now // 30) + offset
    code = pyotp.TOTP(secret).generate_otp(step)
    found = totp_match_step(secret, code, now=now)
    assert (found == step) if ok else (found is None)


def test_totp_rejects_malformed_codes() -> None:
    secret = pyotp.random_base32()
    assert totp_match_step(secret, "12345") is None
    assert totp_match_step(secret, "abcdef") is None


def test_totp_uri_and_qr() -> None:
    uri = totp_uri("JBSWY3DPEHPK3PXPJBSWY3DP", "alice", "ShareMyShows")
    assert uri.startswith("otpauth://totp/ShareMyShows:alice?") and "issuer=ShareMyShows" in uri
    assert qr_svg_data_uri(uri).startswith("data:image/svg+xml")


def test_secret_box_encrypts_and_keys_code_hashes(tmp_path: Path) -> None:
    box = SecretBox(_settings(tmp_path))
    enc = box.encrypt("JBSWY3DPEHPK3PXPJBSWY3DP")
    assert "JBSWY3DPEHPK3PXPJBSWY3DP" not in enc and box.decrypt(enc) == "JBSWY3DPEHPK3PXPJBSWY3DP"
    assert SecretBox(_settings(tmp_path / "other")).decrypt(enc) is None  # another key cannot read it
    assert box.code_hash("123456", "1:login") != box.code_hash("123456", "2:login")
    assert box.code_hash("123456", "1:login") == box.code_hash("123456", "1:login")
    assert stat.S_IMODE((tmp_path / "keys" / "auth-totp.key").stat().st_mode) == 0o600


def test_codes_and_link_tokens() -> None:
    codes = {new_numeric_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isdigit() for c in codes) and len(codes) > 150
    rc = new_recovery_code()
    assert len(rc) == 11 and rc[5] == "-" and normalize_code(rc.upper()) == rc.replace("-", "")
    token, digest = new_link_token()
    assert len(token) >= 43 and digest == sha256_hex(token) and token not in digest
    assert new_link_token()[0] != token


def test_clock_is_server_side() -> None:
    secret = pyotp.random_base32()
    assert totp_match_step(secret, pyotp.TOTP(secret).now()) == int(time.time() // 30)


def test_ipv6_clients_are_limited_per_64() -> None:
    from auth.dependencies import rate_key_for_ip

    assert rate_key_for_ip("2001:db8:1:2:aaaa::1") == rate_key_for_ip("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_key_for_ip("203.0.113.7") == "203.0.113.7"
    assert rate_key_for_ip("not an ip") == "not an ip"
