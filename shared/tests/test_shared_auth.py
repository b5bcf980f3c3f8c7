"""Token verification: valid, expired, tampered, alg none, unknown kid (rotation), wrong type, CSRF."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner, TokenVerifier, check_csrf, extract_token
from shared.errors import Forbidden, Unauthorized

ISS, AUD = "sharemyshows-auth", "sharemyshows"


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


@pytest.fixture
def signer() -> TokenSigner:
    return TokenSigner(Ed25519PrivateKey.generate(), ISS, AUD)


@pytest.fixture
def verifier(signer: TokenSigner) -> TokenVerifier:
    return TokenVerifier(None, ISS, AUD, jwks=signer.jwks(), leeway_s=0)


def test_valid_access_token(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token, _ = signer.access_token(7, "ana")
    claims = verifier.verify(token)
    assert claims["sub"] == "7" and claims["name"] == "ana" and claims["csrf"]


def test_expired_token_is_401_with_code(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token, _ = signer.issue("access", 7, -10, name="ana")
    with pytest.raises(Unauthorized) as err:
        verifier.verify(token)
    assert err.value.code == "token_expired"


def test_tampered_payload_rejected(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token, claims = signer.access_token(7, "ana")
    head, _, sig = token.split(".")
    forged = ".".join([head, _b64({**claims, "sub": "1"}), sig])
    with pytest.raises(Unauthorized):
        verifier.verify(forged)


def test_alg_none_rejected(signer: TokenSigner, verifier: TokenVerifier) -> None:
    _, claims = signer.access_token(7, "ana")
    token = _b64({"alg": "none", "typ": "JWT", "kid": signer.kid}) + "." + _b64(claims) + "."
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_hs256_with_public_key_rejected(signer: TokenSigner, verifier: TokenVerifier) -> None:
    _, claims = signer.access_token(7, "ana")
    x = signer.jwks()["keys"][0]["x"]
    token = jwt.encode(claims, x, algorithm="HS256", headers={"kid": signer.kid})
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_wrong_key_same_kid_rejected(signer: TokenSigner, verifier: TokenVerifier) -> None:
    other = TokenSigner(Ed25519PrivateKey.generate(), ISS, AUD)
    other.kid = signer.kid
    token, _ = other.access_token(7, "ana")
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_refresh_token_is_not_an_access_token(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token, _ = signer.issue("refresh", 7, 3600, fam="f1")
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_wrong_audience_rejected(verifier: TokenVerifier) -> None:
    other = TokenSigner(Ed25519PrivateKey.generate(), ISS, "someone-else")
    v = TokenVerifier(None, ISS, AUD, jwks=other.jwks())
    token, _ = other.access_token(7, "ana")
    with pytest.raises(Unauthorized):
        v.verify(token)


def test_unknown_kid_triggers_refetch_then_accepts_rotated_key() -> None:
    old = TokenSigner(Ed25519PrivateKey.generate(), ISS, AUD)
    new = TokenSigner(Ed25519PrivateKey.generate(), ISS, AUD)
    published = {"keys": old.jwks()["keys"]}
    fetches = []

    def provider() -> dict:
        fetches.append(time.monotonic())
        return published

    v = TokenVerifier(None, ISS, AUD, jwks_provider=provider, refetch_interval_s=0)
    v.refresh(force=True)
    token_new, _ = new.access_token(1, "a")
    with pytest.raises(Unauthorized):
        v.verify(token_new)
    published["keys"] = old.jwks()["keys"] + new.jwks()["keys"]
    assert v.verify(token_new)["sub"] == "1"
    assert len(fetches) >= 3


def test_extract_token_prefers_bearer() -> None:
    assert extract_token({"authorization": "Bearer abc"}, {"access_token_cookie": "x"}) == ("abc", False)
    assert extract_token({}, {"access_token_cookie": "x"}) == ("x", True)
    assert extract_token({"authorization": "Basic zzz"}, {}) == (None, False)


def test_csrf_rules() -> None:
    claims = {"csrf": "tok"}
    # curl-like (no browser headers) and bearer requests are exempt
    check_csrf("POST", {}, claims, via_cookie=True)
    check_csrf("POST", {"origin": "http://x"}, claims, via_cookie=False)
    check_csrf("GET", {"origin": "http://x"}, claims, via_cookie=True)
    with pytest.raises(Forbidden):
        check_csrf("POST", {"origin": "http://x"}, claims, via_cookie=True)
    with pytest.raises(Forbidden):
        check_csrf("DELETE", {"sec-fetch-site": "same-origin", "x-csrf-token": "nope"}, claims, via_cookie=True)
    with pytest.raises(Forbidden):
        check_csrf("POST", {"sec-fetch-site": "cross-site", "x-csrf-token": "tok"}, claims, via_cookie=True)
    check_csrf("POST", {"sec-fetch-site": "same-origin", "x-csrf-token": "tok"}, claims, via_cookie=True)
