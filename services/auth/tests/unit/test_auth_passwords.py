"""Password policy and argon2id hashing."""

from __future__ import annotations

import pytest

from auth.passwords import MAX_BYTES, PasswordHashing, check_password


@pytest.mark.parametrize(
    "password",
    [
        "Ih34rtN4th4n*01",  # the seed's walkthrough password
        "stage lights and loud guitars",
        "a" * 15 + "b",  # 16 characters with a break in the repeat
        "x7#" + "é" * 61,  # 64 characters, non-ASCII
        "ñandú bailando " * 8 + "!",  # 121 characters of Unicode
    ],
)
def test_accepted_passwords(password: str) -> None:
    assert check_password(password) is None


@pytest.mark.parametrize(
    ("password", "code"),
    [
        ("fourteen chars", "password_too_short"),
        ("", "password_too_short"),
        ("x7" * 600, "password_too_long"),
        ("é" * 600, "password_too_long"),  # 600 chars but 1200 bytes
        ("aaaaaaaaaaaaaaaa", "password_too_simple"),
        ("abcabcabcabcabcabc", "password_too_simple"),
        ("abcdefghijklmnopq", "password_too_simple"),
        ("9876543210987654", "password_too_simple"),
        ("qwertyuiopasdfghjkl", "password_too_simple"),
        ("password12345678", "password_too_common"),
        ("correcthorsebatterystaple", "password_too_common"),
        ("Iloveyou!!!!!!!!!", "password_too_common"),
        ("monkeymonkey2024!", "password_too_common"),
    ],
)
def test_rejected_passwords_name_the_rule(password: str, code: str) -> None:
    violation = check_password(password)
    assert violation is not None and violation.code == code
    assert violation.message  # a sentence a person can act on


def test_password_equal_to_username_or_email_is_rejected() -> None:
    v = check_password("concertgoer12345", username="concertgoer12345", email="x@example.test")
    assert v is not None and v.code == "password_matches_account"
    v = check_password("someone.long.name@example.test", email="someone.long.name@example.test")
    assert v is not None and v.code == "password_matches_account"


def test_length_limits_are_exact() -> None:
    assert check_password("k" * 7 + "z" * 7)  # 14 chars: too short
    assert check_password("guitar-amp-fuzzy"[:15]) is None
    assert check_password("q" + "w" * 1021 + "zz") is None  # exactly 1024 bytes
    assert check_password("q" + "w" * 1022 + "zz").code == "password_too_long"  # type: ignore[union-attr]
    assert MAX_BYTES == 1024


def test_argon2id_parameters_meet_the_floor() -> None:
    hashed = PasswordHashing().hash("stage lights and loud guitars")
    assert hashed.startswith("$argon2id$v=19$")
    params = dict(p.split("=") for p in hashed.split("$")[3].split(","))
    assert int(params["m"]) >= 19456 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_verify_is_exact_no_truncation_or_case_folding() -> None:
    h = PasswordHashing()
    pw = "long passphrase " * 10 + "end1"
    stored = h.hash(pw)
    assert h.verify(stored, pw)
    assert not h.verify(stored, pw[:-1] + "2")
    assert not h.verify(stored, pw.upper())
    assert not h.verify("not-a-hash", pw)


def test_salted_hashes_differ() -> None:
    h = PasswordHashing()
    assert h.hash("stage lights and loud guitars") != h.hash("stage lights and loud guitars")


def test_old_parameters_need_rehash() -> None:
    old = PasswordHashing(time_cost=1, memory_kib=8192)
    current = PasswordHashing()
    stored = old.hash("stage lights and loud guitars")
    assert current.needs_rehash(stored)
    assert current.verify(stored, "stage lights and loud guitars")  # still verifies, then gets upgraded
    assert not current.needs_rehash(current.hash("stage lights and loud guitars"))
