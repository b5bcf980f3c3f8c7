"""Thin routes of /api/auth (public) and /internal/users (service-to-service)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response

from auth import mfa as mfa_service
from auth import service
from auth.db import SessionDep
from auth.dependencies import ClientIp, Ctx, CurrentUser
from auth.schemas import (
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
    RecoveryCodesResponse,
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    ResetPasswordRequest,
    SessionResponse,
    TokenRequest,
    UserRef,
    VerifyMfaRequest,
)
from shared.auth import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from shared.copies import SNAPSHOT_PAGE_MAX, parse_since
from shared.errors import BadRequest, Conflict, NotFound, RateLimited, Unauthorized, ValidationFailed
from shared.internal import require_internal

router = APIRouter(prefix="/api/auth", tags=["auth"])
internal_router = APIRouter(
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


def _set_session_cookies(ctx: Ctx, response: Response, issued: service.IssuedSession) -> None:
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


def _session_body(issued: service.IssuedSession, message: str | None = None) -> SessionResponse:
    extra = {"message": message} if message else {}
    return SessionResponse(
        user=MeRead.model_validate(issued.user, from_attributes=True),
        mfa_required=False,
        access_token=issued.access_token,
        refresh_token=issued.refresh_token,
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
    "/login", response_model=SessionResponse | MfaRequiredResponse, response_model_exclude_unset=True, responses=_ERRORS
)
def login(
    body: LoginRequest, ctx: Ctx, session: SessionDep, ip: ClientIp, response: Response
) -> SessionResponse | MfaRequiredResponse:
    """Sign in with a username or email and the password (sets cookies; or asks for the second factor)."""
    result = service.login(ctx, session=session, login=body.login, password=body.password, ip=ip)
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


@router.post("/verify-mfa", response_model=SessionResponse, response_model_exclude_unset=True, responses=_ERRORS)
def verify_mfa(
    body: VerifyMfaRequest, request: Request, ctx: Ctx, session: SessionDep, response: Response
) -> SessionResponse:
    """Finish signing in with a TOTP, emailed/SMS or recovery code (bound to the login attempt)."""
    token = body.mfa_token or request.cookies.get(MFA_COOKIE)
    issued = service.verify_mfa(ctx, session=session, mfa_token=token, code=body.code)
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued, "Verification successful!")


@router.post("/resend-mfa", response_model=MessageResponse, responses=_ERRORS)
def resend_mfa(request: Request, ctx: Ctx, session: SessionDep, body: MfaTokenRequest | None = None) -> MessageResponse:
    """Send a new code for the pending login attempt (email/SMS methods)."""
    token = (body.mfa_token if body else None) or request.cookies.get(MFA_COOKIE)
    return MessageResponse(message=mfa_service.resend_code(ctx, session=session, mfa_token=token))


@router.post("/logout", response_model=MessageResponse)
def logout(
    request: Request, ctx: Ctx, session: SessionDep, response: Response, body: RefreshRequest | None = None
) -> MessageResponse:
    """Sign out: the refresh family is revoked and the cookies are cleared."""
    token = (body.refresh_token if body else None) or request.cookies.get(REFRESH_COOKIE)
    service.logout(ctx, session=session, refresh_token=token)
    _clear_cookies(ctx, response)
    return MessageResponse(message="Logged out successfully")


@router.post("/refresh", response_model=SessionResponse, response_model_exclude_unset=True, responses=_ERRORS)
def refresh(
    request: Request, ctx: Ctx, session: SessionDep, response: Response, body: RefreshRequest | None = None
) -> SessionResponse:
    """New tokens for a refresh token (cookie or body); the old one is rotated out."""
    from_body = body.refresh_token if body else None
    token = from_body or request.cookies.get(REFRESH_COOKIE)
    issued = service.refresh(ctx, session=session, token=token, via_cookie=not from_body, headers=request.headers)
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued)


@router.get("/me", response_model=MeRead, responses=_ERRORS)
def me(principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MeRead:
    """The signed-in account."""
    user = service.current_user(ctx, session=session, principal=principal)
    return MeRead.model_validate(user, from_attributes=True)


@router.delete("/me", status_code=204, response_class=Response, responses=_ERRORS)
def delete_me(body: PasswordRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> Response:
    """Delete the account (password required); every service removes the user's data."""
    service.delete_account(ctx, session=session, principal=principal, password=body.password)
    response = Response(status_code=204)
    _clear_cookies(ctx, response)
    return response


@router.post("/verify-email", response_model=MessageResponse, responses={400: BadRequest.schema(), **_ERRORS})
def verify_email(body: TokenRequest, ctx: Ctx, session: SessionDep, ip: ClientIp) -> MessageResponse:
    """Confirm the email address with the token from the mail."""
    service.verify_email(ctx, session=session, token=body.token, ip=ip)
    return MessageResponse(message="Your email address is confirmed.")


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
    body: ChangePasswordRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep, response: Response
) -> SessionResponse:
    """Change the password; other sessions end and this one gets fresh tokens."""
    issued = service.change_password(
        ctx,
        session=session,
        principal=principal,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    _set_session_cookies(ctx, response, issued)
    return _session_body(issued, "Your password was changed; other sessions were signed out.")


@router.post(
    "/mfa/setup",
    response_model=MfaSetupResponse,
    response_model_exclude_unset=True,
    responses={409: Conflict.schema(), **_ERRORS},
)
def mfa_setup(body: MfaSetupRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MfaSetupResponse:
    """Start setting up TOTP (URI, secret, QR code), email or SMS codes (a code is sent)."""
    user = service.current_user(ctx, session=session, principal=principal)
    data = mfa_service.setup(ctx, session=session, user=user, method=body.method, phone_number=body.phone_number)
    return MfaSetupResponse(**data)


@router.post("/mfa/enable", response_model=RecoveryCodesResponse, responses={409: Conflict.schema(), **_ERRORS})
def mfa_enable(body: MfaEnableRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> RecoveryCodesResponse:
    """Turn MFA on with a valid code; returns 10 one-time recovery codes (shown once)."""
    user = service.current_user(ctx, session=session, principal=principal)
    method, codes = mfa_service.enable(ctx, session=session, user=user, code=body.code, method=body.method)
    return RecoveryCodesResponse(
        message="Two-step verification is on. Keep these recovery codes safe.", method=method, recovery_codes=codes
    )


@router.post("/mfa/disable", response_model=MessageResponse, responses={409: Conflict.schema(), **_ERRORS})
def mfa_disable(body: ReauthRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep) -> MessageResponse:
    """Turn MFA off (password or a current code required)."""
    user = service.current_user(ctx, session=session, principal=principal)
    mfa_service.disable(ctx, session=session, user=user, password=body.password, code=body.code)
    return MessageResponse(message="Two-step verification is off.")


@router.post("/mfa/recovery-codes", response_model=RecoveryCodesResponse, responses={409: Conflict.schema(), **_ERRORS})
def mfa_recovery_codes(
    body: ReauthRequest, principal: CurrentUser, ctx: Ctx, session: SessionDep
) -> RecoveryCodesResponse:
    """Replace the recovery codes (password or a current code required)."""
    user = service.current_user(ctx, session=session, principal=principal)
    codes = mfa_service.regenerate_recovery_codes(
        ctx, session=session, user=user, password=body.password, code=body.code
    )
    return RecoveryCodesResponse(
        message="New recovery codes; the old ones no longer work.", method=user.mfa_method, recovery_codes=codes
    )


@router.get("/.well-known/jwks.json")
def jwks(ctx: Ctx, response: Response) -> dict[str, Any]:
    """The public keys that verify this service's tokens."""
    response.headers["Cache-Control"] = "public, max-age=300"
    return ctx.keys.jwks()


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
