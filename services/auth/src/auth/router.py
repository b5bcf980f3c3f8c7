"""Thin routes of /api/auth (public) and /internal/users (service-to-service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from auth import mfa as mfa_service
from auth import service, sessions
from auth.db import SessionDep
from auth.dependencies import ClientDevice, ClientIp, Ctx, CurrentUser, LenientUser
from auth.exceptions import PasswordResetRequired, ReauthenticationRequired, SessionNotFound
from auth.schemas import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    EmailRequest,
    InternalUsers,
    LoginRequest,
    MeRead,
    MessageResponse,
    MfaEnableRequest,
    MfaRequiredResponse,
    MfaSetupRequest,
    MfaSetupResponse,
    MfaTokenRequest,
    PasswordRequest,
    ReauthRequest,
    ReauthResponse,
    RecoveryCodesResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    ResetPasswordRequest,
    RevocationPage,
    RevokeAllRequest,
    RevokedCount,
    SessionList,
    SessionResponse,
    TokenRequest,
    UserRef,
    VerifyMfaRequest,
)
from shared.auth import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from shared.copies import SNAPSHOT_PAGE_MAX, parse_since
from shared.db import service_router
from shared.errors import BadRequest, Conflict, NotFound, RateLimited, Unauthorized, ValidationFailed
from shared.internal import require_internal

router = service_router(prefix="/api/auth", tags=["auth"])
internal_router = service_router(
    prefix="/internal", tags=["internal"], dependencies=[Depends(require_internal)], include_in_schema=False
)

MFA_COOKIE = "mfa_pending"
CSRF_REFRESH_COOKIE = "csrf_refresh_token"
AUTH_PATH = "/api/auth"
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: Unauthorized.schema(),
    422: ValidationFailed.schema(),
    429: RateLimited.schema(),
}
# sensitive changes: 403 `reauthentication_required` without a recent password/code check on the session
_STEP_UP: dict[int | str, dict[str, Any]] = {**_ERRORS, 403: ReauthenticationRequired.schema()}


def _set_session_cookies(ctx: Ctx, response: Response, issued: sessions.IssuedSession) -> None:
    s = ctx.settings
    common: dict[str, Any] = {"secure": s.cookie_secure, "samesite": "lax"}
    response.set_cookie(ACCESS_COOKIE, issued.access_token, max_age=s.access_ttl_s, path="/", httponly=True, **common)
    response.set_cookie(CSRF_COOKIE, issued.csrf_access, max_age=s.access_ttl_s, path="/", httponly=False, **common)
    response.set_cookie(
        REFRESH_COOKIE, issued.refresh_token, max_age=s.refresh_ttl_s, path=AUTH_PATH, httponly=True, **common
    )
    response.set_cookie(
        CSRF_REFRESH_COOKIE, issued.csrf_refresh, max_age=s.refresh_ttl_s, path="/", httponly=False, **common
    )
    response.delete_cookie(MFA_COOKIE, path=AUTH_PATH, secure=s.cookie_secure, httponly=True, samesite="lax")


def _clear_cookies(ctx: Ctx, response: Response) -> None:
    common: dict[str, Any] = {"secure": ctx.settings.cookie_secure, "samesite": "lax"}
    response.delete_cookie(ACCESS_COOKIE, path="/", httponly=True, **common)
    response.delete_cookie(CSRF_COOKIE, path="/", **common)
    response.delete_cookie(REFRESH_COOKIE, path=AUTH_PATH, httponly=True, **common)
    response.delete_cookie(CSRF_REFRESH_COOKIE, path="/", **common)
    response.delete_cookie(MFA_COOKIE, path=AUTH_PATH, httponly=True, **common)


def _session_body(issued: sessions.IssuedSession, message: str | None = None) -> SessionResponse:
    extra = {"message": message} if message else {}
    return SessionResponse(
        user=MeRead.model_validate(issued.user, from_attributes=True),
        mfa_required=False,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
        session_id=issued.sid,
        **extra,
    )


@router.post(
    "/register",
    status_code=201,
    response_model=RegisterResponse,
    response_model_exclude_unset=True,
    responses={409: Conflict.schema(), **_ERRORS},
)
def register(body: RegisterRequest, ctx: Ctx, session: SessionDep, ip: ClientIp) -> RegisterResponse:
    """Create an account (verification mail sent; `mfa_method` totp returns the provisioning data)."""
    method = body.mfa_method or ("email" if body.enable_mfa else None)
    result = service.register(
        ctx, session=session, username=body.username, email=body.email, password=body.password, mfa_method=method, ip=ip
    )
    return RegisterResponse(
        user=MeRead.model_validate(result.user, from_attributes=True), message=result.message, **(result.totp or {})
    )


@router.post(
    "/login",
    response_model=SessionResponse | MfaRequiredResponse,
    response_model_exclude_unset=True,
    responses={**_ERRORS, 403: PasswordResetRequired.schema()},
)
def login(
    body: LoginRequest, ctx: Ctx, session: SessionDep, ip: ClientIp, device: ClientDevice, response: Response
) -> SessionResponse | MfaRequiredResponse:
    """Sign in with a username or email and the password (sets cookies; or asks for the second factor).

    403 `password_reset_required` after the account was reported with a "this wasn't me" link.
    """
    result = service.login(ctx, session=session, login=body.login, password=body.password, ip=ip, device=device)
    if isinstance(result, mfa_service.MfaPending):
        response.set_cookie(
            MFA_COOKIE,
            result.mfa_token,
            max_age=ctx.settings.mfa_ttl_s,
            path=AUTH_PATH,
            httponly=True,
            secure=ctx.settings.cookie_secure,
            samesite="lax",
        )
        return MfaRequiredResponse(
            mfa_required=True, mfa_token=result.mfa_token, methods=result.methods, message=result.message
        )
    _set_session_cookies(ctx, response, result)
    return _session_body(result)


@router.post(
    "/verify-mfa",
    response_model=SessionResponse,
    response_model_exclude_unset=True,
    responses={**_ERRORS, 403: PasswordResetRequired.schema()},
)
def verify_mfa(
    body: VerifyMfaRequest, request: Request, ctx: Ctx, session: SessionDep, device: ClientDevice, response: Response
) -> SessionResponse:
    """Finish signing in with a TOTP, emailed/SMS or recovery code (bound to the login attempt)."""
    token = body.mfa_token or request.cookies.get(MFA_COOKIE)
    issued = service.verify_mfa(ctx, session=session, mfa_token=token, code=body.code, device=device)
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued, "Verification successful!")


@router.post("/resend-mfa", response_model=MessageResponse, responses=_ERRORS)
def resend_mfa(request: Request, ctx: Ctx, session: SessionDep, body: MfaTokenRequest | None = None) -> MessageResponse:
    """Send a new code for the pending login attempt (email/SMS methods)."""
    token = (body.mfa_token if body else None) or request.cookies.get(MFA_COOKIE)
    return MessageResponse(message=mfa_service.resend_code(ctx, session=session, mfa_token=token))


@router.post("/logout", response_model=MessageResponse)
def logout(
    request: Request, ctx: Ctx, session: SessionDep, response: Response, principal: LenientUser,
    body: RefreshRequest | None = None,
) -> MessageResponse:
    """Sign out: this session ends everywhere (refresh token, or else the access token) and cookies are cleared.

    Its access tokens are refused by every service within seconds. A missing or invalid token still
    clears the cookies (never an error).
    """
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    sessions.logout(ctx, session=session, refresh_token=token, principal=principal)
    _clear_cookies(ctx, response)
    return MessageResponse(message="Logged out successfully")


@router.post("/refresh", response_model=SessionResponse, response_model_exclude_unset=True, responses=_ERRORS)
def refresh(
    request: Request, ctx: Ctx, session: SessionDep, response: Response, body: RefreshRequest | None = None
) -> SessionResponse:
    """New tokens for a refresh token (cookie or body); the old one is rotated out (same session)."""
    from_body = body.refresh_token if body else None
    token = from_body or request.cookies.get(REFRESH_COOKIE)
    issued = sessions.rotate(ctx, session=session, token=token, via_cookie=not from_body, headers=request.headers)
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued)


@router.get("/me", response_model=MeRead, responses=_ERRORS)
def me(principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MeRead:
    """The signed-in account."""
    user = service.current_user(ctx, session=session, principal=principal)
    return MeRead.model_validate(user, from_attributes=True)


@router.delete("/me", status_code=204, response_class=Response, responses=_STEP_UP)
def delete_me(
    principal: CurrentUser, ctx: Ctx, session: SessionDep, body: PasswordRequest | None = None
) -> Response:
    """Delete the account (the password, or a recent re-authentication); every session ends, every service
    removes the user's data."""
    service.delete_account(ctx, session=session, principal=principal, password=body.password if body else None)
    response = Response(status_code=204)
    _clear_cookies(ctx, response)
    return response


@router.post(
    "/verify-email", response_model=MessageResponse,
    responses={400: BadRequest.schema(), 409: Conflict.schema(), **_ERRORS},
)
def verify_email(body: TokenRequest, ctx: Ctx, session: SessionDep, ip: ClientIp) -> MessageResponse:
    """Confirm an email address with the token from the mail (the account's, or the new one of a change)."""
    return MessageResponse(message=service.verify_email(ctx, session=session, token=body.token, ip=ip))


@router.post(
    "/change-email", status_code=202, response_model=MessageResponse, responses={409: Conflict.schema(), **_STEP_UP}
)
def change_email(body: ChangeEmailRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MessageResponse:
    """Change the email address: a link goes to the new one and the change happens when it is opened
    (the old address gets a notice). Needs the password or a recent re-authentication."""
    message = service.request_email_change(
        ctx, session=session, principal=principal, new_email=body.new_email, password=body.password
    )
    return MessageResponse(message=message)


@router.post("/forgot-password", response_model=MessageResponse, responses=_ERRORS)
@router.post("/request-password-reset", response_model=MessageResponse, responses=_ERRORS)
def forgot_password(body: EmailRequest, ctx: Ctx, session: SessionDep, ip: ClientIp) -> MessageResponse:
    """Mail a reset link; the same answer whether or not the account exists."""
    return MessageResponse(message=service.forgot_password(ctx, session=session, email=body.email, ip=ip))


@router.post("/reset-password", response_model=MessageResponse, responses={400: BadRequest.schema(), **_ERRORS})
def reset_password(body: ResetPasswordRequest, ctx: Ctx, session: SessionDep, ip: ClientIp) -> MessageResponse:
    """Set a new password with the token from the mail (every session ends; MFA stays on)."""
    service.reset_password(ctx, session=session, token=body.token, password=body.password, ip=ip)
    return MessageResponse(message="Your password was reset. Sign in with the new password.")


@router.post("/change-password", response_model=SessionResponse, response_model_exclude_unset=True, responses=_ERRORS)
def change_password(
    body: ChangePasswordRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep, device: ClientDevice,
    response: Response,
) -> SessionResponse:
    """Change the password (the current one is the re-authentication); every session ends, this device
    continues in a new one."""
    issued = service.change_password(
        ctx,
        session=session,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
        device=device,
    )
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued, "Your password was changed; other sessions were signed out.")


@router.post(
    "/mfa/setup",
    response_model=MfaSetupResponse,
    response_model_exclude_unset=True,
    responses={409: Conflict.schema(), **_STEP_UP},
)
def mfa_setup(body: MfaSetupRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MfaSetupResponse:
    """Start setting up TOTP (URI, secret, QR code), email or SMS codes (a code is sent).

    Needs a re-authentication (`/reauthenticate`) in the last 5 minutes.
    """
    data = service.mfa_setup(ctx, session=session, principal=principal, method=body.method,
                             phone_number=body.phone_number)
    return MfaSetupResponse(**data)


@router.post("/mfa/enable", response_model=RecoveryCodesResponse, responses={409: Conflict.schema(), **_STEP_UP})
def mfa_enable(body: MfaEnableRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> RecoveryCodesResponse:
    """Turn MFA on with a valid code; returns 10 one-time recovery codes (shown once).

    Needs a re-authentication in the last 5 minutes; the account gets a notice mail.
    """
    method, codes = service.mfa_enable(ctx, session=session, principal=principal, code=body.code,
                                       method=body.method)
    return RecoveryCodesResponse(
        message="Two-step verification is on. Keep these recovery codes safe.", method=method, recovery_codes=codes
    )


@router.post("/mfa/disable", response_model=MessageResponse, responses={409: Conflict.schema(), **_STEP_UP})
def mfa_disable(body: ReauthRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MessageResponse:
    """Turn MFA off (the password or a current code, or a recent re-authentication); a notice is mailed."""
    service.mfa_disable(ctx, session=session, principal=principal, password=body.password, code=body.code)
    return MessageResponse(message="Two-step verification is off.")


@router.post("/mfa/recovery-codes", response_model=RecoveryCodesResponse,
             responses={409: Conflict.schema(), **_STEP_UP})
def mfa_recovery_codes(
    body: ReauthRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep
) -> RecoveryCodesResponse:
    """Replace the recovery codes (the password or a current code, or a recent re-authentication)."""
    method, codes = service.mfa_recovery_codes(ctx, session=session, principal=principal, password=body.password,
                                               code=body.code)
    return RecoveryCodesResponse(
        message="New recovery codes; the old ones no longer work.", method=method, recovery_codes=codes
    )


@router.post("/reauthenticate", response_model=ReauthResponse, responses=_ERRORS)
def reauthenticate(body: ReauthRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> ReauthResponse:
    """Confirm it is you with the password or a current code: sensitive changes are allowed on this session
    for the next 5 minutes."""
    until = service.reauthenticate(ctx, session=session, principal=principal, password=body.password,
                                   code=body.code)
    return ReauthResponse(message="Thanks, you can go on.", reauth_until=until)


@router.get("/sessions", response_model=SessionList, responses=_ERRORS)
def list_sessions(principal: CurrentUser, ctx: Ctx, session: SessionDep) -> dict[str, Any]:
    """Your signed-in devices (the one you are using is `current`)."""
    rows = sessions.list_sessions(ctx, session=session, principal=principal)
    return {"sessions": rows, "total": len(rows)}


@router.delete("/sessions/{sid}", status_code=204, response_class=Response,
               responses={404: SessionNotFound.schema(), **_ERRORS})
def revoke_session(
    sid: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f]+$")], principal: CurrentUser,
    ctx: Ctx, session: SessionDep,
) -> Response:
    """Sign one of your devices out: its tokens are refused everywhere within seconds (idempotent)."""
    current = sessions.revoke_one(ctx, session=session, principal=principal, sid=sid)
    response = Response(status_code=204)
    if current:
        _clear_cookies(ctx, response)
    return response


@router.post("/sessions/revoke-all", response_model=RevokedCount, responses=_ERRORS)
def revoke_all_sessions(
    principal: CurrentUser, ctx: Ctx, session: SessionDep, response: Response, body: RevokeAllRequest | None = None
) -> RevokedCount:
    """Sign out everywhere (or, with `keep_current`, every other device)."""
    keep = bool(body and body.keep_current)
    count = sessions.revoke_all(ctx, session=session, principal=principal, keep_current=keep)
    if not keep:
        _clear_cookies(ctx, response)
    return RevokedCount(message=f"Signed out of {count} session{'s' if count != 1 else ''}.", revoked=count)


@router.post("/secure-account", response_model=MessageResponse, responses={400: BadRequest.schema(), **_ERRORS})
def secure_account(body: TokenRequest, ctx: Ctx, session: SessionDep, ip: ClientIp,
                   response: Response) -> MessageResponse:
    """Act on the "this wasn't me" link of a security notice (no sign-in needed).

    Every session ends, the reported change is undone where possible, and a new password is required
    (a reset link is mailed).
    """
    message = service.secure_account(ctx, session=session, token=body.token, ip=ip)
    _clear_cookies(ctx, response)
    return MessageResponse(message=message)


@router.get("/.well-known/jwks.json")
def jwks(ctx: Ctx, response: Response) -> dict[str, Any]:
    """The public keys that verify this service's tokens."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return ctx.keys.jwks()


@internal_router.get("/sessions/revoked", response_model=RevocationPage)
def internal_revoked_sessions(
    ctx: Ctx, session: SessionDep, after: Annotated[int, Query(ge=0)] = 0
) -> dict[str, Any]:
    """Revoked sessions whose tokens may still be valid, after `cursor` (every process catches up here)."""
    return sessions.revoked_since(ctx, session=session, after=after)


class InternalMail(BaseModel):
    """A plain mail another service asks auth to send to one of its users (auth renders and escapes it)."""

    model_config = ConfigDict(extra="forbid")
    subject: str = Field(min_length=1, max_length=200)
    paragraphs: list[Annotated[str, Field(max_length=2000)]] = Field(min_length=1, max_length=40)
    link: str | None = Field(default=None, max_length=2000)
    link_label: str = Field(default="", max_length=200)


@internal_router.post("/users/{user_id}/mail", status_code=202)
def internal_mail(user_id: Annotated[int, Path(gt=0)], body: InternalMail, session: SessionDep) -> dict[str, bool]:
    """Queue a mail to a user through auth's mail outbox (social's notification digests); 404 if no account."""
    service.queue_user_mail(session=session, user_id=user_id, subject=body.subject, paragraphs=body.paragraphs,
                            link=body.link, link_label=body.link_label)
    return {"queued": True}


@internal_router.get("/users", response_model=InternalUsers)
def internal_users(session: SessionDep, ids: Annotated[str, Query(max_length=5000)] = "") -> InternalUsers:
    """Users `{id, username}` by comma-separated ids."""
    users = service.internal_users(session=session, ids=ids)
    return InternalUsers(users=[UserRef(id=u.id, username=u.username) for u in users])


@internal_router.get("/snapshot/users")
def users_snapshot(
    session: SessionDep,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=SNAPSHOT_PAGE_MAX)] = 500,
    since: Annotated[str | None, Query(max_length=40)] = None,
    ids: Annotated[str | None, Query(max_length=20000)] = None,
    username: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Every account (live or deleted) with its version, paged by id: how copies elsewhere repair.

    `ids` or `username` (exact, case-insensitive) narrow it to accounts a service has not heard of yet.
    """
    return service.users_snapshot(
        session=session, after=after, limit=limit, since=parse_since(since), ids=ids, username=username
    ).as_json()


@internal_router.get("/users/lookup", response_model=UserRef)
def internal_lookup(session: SessionDep, username: str | None = None, email: str | None = None) -> UserRef:
    """One user by exact username or email; 404 if none."""
    user = service.internal_lookup(session=session, username=username, email=email)
    if user is None:
        raise NotFound("No such user.")
    return UserRef(id=user.id, username=user.username)
