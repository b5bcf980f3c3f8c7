"""What the auth service functions need besides the session: settings, keys, hashing, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from auth.config import AuthSettings
from auth.passwords import PasswordHashing
from auth.security import KeyRing, SecretBox
from shared.broadcast import Broadcast
from shared.db import utcnow
from shared.ratelimit import RateLimiter, enforce, make_rate_limiter
from shared.revocation import RevocationList


@dataclass
class AuthContext:
    """Long-lived collaborators of the service layer (one per app)."""

    settings: AuthSettings
    keys: KeyRing
    box: SecretBox
    hashing: PasswordHashing
    limiter: RateLimiter
    # this process's list of revoked sessions (auth's own verifier checks it too)
    revocations: RevocationList = field(default_factory=RevocationList)
    # where revocations are pushed to every process (set by the app; None in unit tests)
    broadcast: Broadcast | None = None
    clock: Callable[[], datetime] = field(default_factory=lambda: utcnow)

    @classmethod
    def build(cls, settings: AuthSettings) -> AuthContext:
        """Load or create the keys and build the collaborators from settings."""
        revocations = RevocationList()
        return cls(
            settings=settings,
            keys=KeyRing(settings, revocations=revocations),
            box=SecretBox(settings),
            hashing=PasswordHashing(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism),
            limiter=make_rate_limiter(settings.redis_url or None),
            revocations=revocations,
        )

    def now(self) -> datetime:
        """The current time (injectable for tests)."""
        return self.clock()

    def limit(self, key: str, limit: int, window_s: int, message: str | None = None) -> None:
        """Count a hit on `key`; 429 with Retry-After when over `limit` per `window_s`."""
        enforce(self.limiter, f"auth:{key}", limit, window_s, message)

    def allowed(self, key: str, limit: int, window_s: int) -> bool:
        """Count a hit on `key` and say whether it is within the limit (no error)."""
        ok, _ = self.limiter.hit(f"auth:{key}", limit, window_s)
        return ok
