"""Password hashing (argon2id) and the password policy (length and an offline common-password list)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 15
MAX_BYTES = 1024
USERNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{3,30}$")

# Runs of these are "sequences" (abcdef..., 123456..., qwerty...), rejected like common passwords.
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
# Phrases famous enough to be in every cracking dictionary but missing from zxcvbn's single words.
_EXTRA_COMMON = frozenset(
    {"correcthorsebatterystaple", "correct horse battery staple", "thequickbrownfox", "iloveyouforever"}
)
_EDGE_JUNK = "0123456789!@#$%^&*()_+-=.,;:?~` "


@dataclass(frozen=True)
class PolicyViolation:
    """Which rule a password broke, in words a person can act on."""

    code: str
    message: str


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """zxcvbn's bundled frequency list of real leaked passwords (30k), lower-cased."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(p.lower() for p in FREQUENCY_LISTS["passwords"]) | _EXTRA_COMMON


def _is_repeat(pw: str) -> bool:
    n = len(pw)
    return any(n % size == 0 and pw[:size] * (n // size) == pw for size in range(1, n // 2 + 1))


def _is_sequence(pw: str) -> bool:
    for seq in _SEQUENCES:
        for s in (seq, seq[::-1]):
            ring = s * (len(pw) // len(s) + 2)
            if pw in ring:
                return True
    return False


def _is_common(pw: str) -> bool:
    common = common_passwords()
    if pw in common:
        return True
    core = pw.strip(_EDGE_JUNK)
    return len(core) >= 4 and (core in common or (_is_repeat(core) and core[: len(core) // 2] in common))


def check_password(password: str, *, username: str = "", email: str = "") -> PolicyViolation | None:
    """The first policy rule `password` breaks, or None (NIST 800-63B: length + blocklist, no composition)."""
    if len(password) < MIN_LENGTH:
        return PolicyViolation("password_too_short", f"Password must be at least {MIN_LENGTH} characters.")
    if len(password.encode("utf-8")) > MAX_BYTES:
        return PolicyViolation("password_too_long", f"Password must be at most {MAX_BYTES} bytes.")
    low = password.lower()
    if _is_repeat(low) or _is_sequence(low):
        return PolicyViolation(
            "password_too_simple", "Password must not be a repeated character, pattern or simple sequence."
        )
    if _is_common(low):
        return PolicyViolation(
            "password_too_common", "Password is too common (it appears in lists of leaked passwords); choose another."
        )
    context = {username.lower(), email.lower(), email.lower().split("@")[0]} - {""}
    if low in context or low.strip(_EDGE_JUNK) in context:
        return PolicyViolation("password_matches_account", "Password must not be your username or email address.")
    return None


class PasswordHashing:
    """argon2id hashing with the configured cost; says when a stored hash needs upgrading."""

    def __init__(self, time_cost: int = 2, memory_kib: int = 19456, parallelism: int = 1) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism, type=Type.ID
        )
        # verifying against this keeps "unknown user" as slow as "wrong password"
        self._dummy = self._hasher.hash("not a real password, only for timing")

    def hash(self, password: str) -> str:
        """A salted argon2id hash of `password`."""
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """True when `password` matches `stored_hash`."""
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_dummy(self, password: str) -> None:
        """Spend the time of a real verification (for unknown accounts)."""
        self.verify(self._dummy, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        """True when `stored_hash` was made with other (older) parameters."""
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
