"""Token verification: valid, expired, tampered, alg none, unknown kid (rotation), wrong type, CSRF."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import TokenSigner, TokenVerifier, check_csrf, extract_token, token_from_subprotocols
from shared.errors import Forbidden, ServiceUnavailable, Unauthorized
from shared.revocation import RevocationList

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
    token, _ = signer.issue("access", 7, -10, name="ana", sid="s")
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
    assert extract_token("Bearer abc", {"access_token_cookie": "x"}) == ("abc", False)
    assert extract_token(None, {"access_token_cookie": "x"}) == ("x", True)
    assert extract_token("Basic zzz", {}) == (None, False)
    # the raw Cookie header (the gateway) is parsed the same way
    assert extract_token(None, "a=1; access_token_cookie=x; b=2") == ("x", True)
    assert extract_token(None, "xaccess_token_cookie=x") == (None, False)


def test_token_from_websocket_subprotocols() -> None:
    assert token_from_subprotocols("access_token, abc.def.ghi, chat.v1") == ("abc.def.ghi", ["chat.v1"],
                                                                             "access_token")
    assert token_from_subprotocols("chat.v1") == (None, ["chat.v1"], None)
    assert token_from_subprotocols(None) == (None, [], None)


def test_access_and_refresh_tokens_need_a_session_id(signer: TokenSigner, verifier: TokenVerifier) -> None:
    token, _ = signer.issue("access", 7, 600, name="ana", csrf="c")  # no sid: issued before sessions
    with pytest.raises(Unauthorized) as err:
        verifier.verify(token)
    assert err.value.code == "invalid_token"
    refresh, _ = signer.issue("refresh", 7, 600)
    with pytest.raises(Unauthorized):
        verifier.verify(refresh, "refresh")
    mfa, _ = signer.issue("mfa", 7, 300)  # pre-session tokens have no sid
    assert verifier.verify(mfa, "mfa")["typ"] == "mfa"


def test_revoked_session_is_refused_cached_or_not(signer: TokenSigner) -> None:
    revocations = RevocationList()
    v = TokenVerifier(None, ISS, AUD, jwks=signer.jwks(), revocations=revocations)
    token, _ = signer.access_token(7, "ana", sid="s1")
    other, _ = signer.access_token(7, "ana", sid="s2")
    with pytest.raises(ServiceUnavailable) as unavailable:  # not loaded yet: no token is accepted
        v.verify(token)
    assert unavailable.value.code == "sessions_unavailable"
    revocations.apply_catchup({"revocations": [], "cursor": 0})
    assert v.verify(token)["sid"] == "s1"  # cached from here on
    revocations.add("s1", time.time() + 600, 7)
    with pytest.raises(Unauthorized) as err:
        v.verify(token)
    assert err.value.code == "session_revoked"
    assert v.verify(other)["sid"] == "s2"
    fresh, _ = signer.access_token(7, "ana", sid="s1")  # never cached: refused all the same
    with pytest.raises(Unauthorized):
        v.verify(fresh)


def test_verify_async_fetches_unknown_keys_without_blocking(signer: TokenSigner) -> None:
    fetched: list[int] = []

    async def fetch() -> dict:
        fetched.append(1)
        return signer.jwks()

    v = TokenVerifier(None, ISS, AUD, async_jwks_fetch=fetch, refetch_interval_s=0)
    token, _ = signer.access_token(3, "c")
    assert asyncio.run(v.verify_async(token))["sub"] == "3"
    assert fetched == [1]
    assert asyncio.run(v.verify_async(token))["sub"] == "3"  # cached: no fetch
    assert fetched == [1]


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


def test_concurrent_first_requests_share_one_jwks_fetch(signer: TokenSigner) -> None:
    """The first requests after start-up arrive together: none is refused while the keys are on their way."""
    fetches: list[float] = []

    def slow_provider() -> dict:
        fetches.append(time.monotonic())
        time.sleep(0.2)
        return signer.jwks()

    v = TokenVerifier(None, ISS, AUD, jwks_provider=slow_provider)
    tokens = [signer.access_token(i, f"u{i}")[0] for i in range(1, 6)]

    async def all_at_once() -> list[dict]:
        return await asyncio.gather(*(v.verify_async(t) for t in tokens))

    claims = asyncio.run(all_at_once())
    assert [c["sub"] for c in claims] == ["1", "2", "3", "4", "5"]
    assert len(fetches) == 1
