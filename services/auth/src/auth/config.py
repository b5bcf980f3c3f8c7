"""Auth service settings: the common variables from shared plus `AUTH_*` ones."""

from __future__ import annotations

from functools import lru_cache
from typing import ClassVar, Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings, Environment


class AuthSettings(BaseServiceSettings):
    """Settings of the auth service (env prefix `AUTH_`)."""

    model_config = SettingsConfigDict(env_prefix="AUTH_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "auth"
    default_port: ClassVar[int] = 5001

    # keys: PEM / Fernet key from the environment; generated under {VAR_DIR}/keys outside production
    jwt_private_key: str = ""
    jwt_previous_public_keys: str = ""  # PEM public keys still published in the JWKS during a rotation
    totp_encryption_key: str = ""

    # token lifetimes (seconds); a revoked session's access tokens are refused everywhere within
    # seconds by the revocation list, which keeps each entry for access_ttl_s (+ the verifiers' leeway)
    access_ttl_s: int = Field(300, ge=1)
    refresh_ttl_s: int = Field(30 * 24 * 3600, ge=1)
    mfa_ttl_s: int = Field(300, ge=1)
    verify_email_ttl_s: int = Field(24 * 3600, ge=0)
    reset_ttl_s: int = Field(3600, ge=0)
    change_email_ttl_s: int = Field(24 * 3600, ge=0)
    # the "this wasn't me" link of a security notice
    secure_account_ttl_s: int = Field(7 * 24 * 3600, ge=0)
    # step-up: sensitive changes need the password or a second factor checked this recently on the session
    reauth_window_s: int = Field(300, ge=0)
    code_ttl_s: int = Field(600, ge=0)
    code_max_attempts: int = Field(5, ge=1)

    # argon2id parameters (OWASP floor: m=19456 KiB, t=2, p=1); outdated hashes are upgraded at login
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)

    # rate limits (count per window)
    login_limit_per_account: int = 10
    login_limit_per_ip: int = 30
    login_window_s: int = 300
    mfa_limit_per_account: int = 10
    mfa_window_s: int = 300
    resend_limit_per_account: int = 5
    forgot_limit_per_email: int = 5
    forgot_limit_per_ip: int = 30
    forgot_window_s: int = 1800
    register_limit_per_ip: int = 20
    register_window_s: int = 3600
    confirm_limit_per_ip: int = 20
    confirm_window_s: int = 300

    # client IP for per-IP limits: the gateway replaces X-Forwarded-For with the address it trusts
    trust_forwarded_for: bool = True

    # mail and SMS
    smtp_url: str = Field("", validation_alias=AliasChoices("SMTP_URL", "AUTH_SMTP_URL"))
    mail_from: str = "ShareMyShows <no-reply@sharemyshows.local>"
    mail_worker_enabled: bool = True
    mail_poll_interval_s: float = 1.0
    sms_sender: Literal["file"] = "file"

    totp_issuer: str = "ShareMyShows"

    @model_validator(mode="after")
    def _production_needs_real_keys(self) -> AuthSettings:
        if self.env is Environment.production and not self.jwt_private_key:
            raise ValueError("AUTH_JWT_PRIVATE_KEY must be set in production")
        if self.env is Environment.production and not self.totp_encryption_key:
            raise ValueError("AUTH_TOTP_ENCRYPTION_KEY must be set in production")
        return self

    @property
    def cookie_secure(self) -> bool:
        """Secure cookies everywhere but development and testing."""
        return not self.is_dev


@lru_cache
def get_settings() -> AuthSettings:
    """Settings read once from the environment."""
    return AuthSettings()
