"""Mail and SMS: messages are queued in the database with the change, and sent after commit by a thread."""

from __future__ import annotations

import html
import logging
import smtplib
import threading
import uuid
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy.orm import Session, sessionmaker

from auth import repository as repo
from auth.config import AuthSettings
from auth.models import OutboundMessage
from shared.db import after_commit, session_scope, utcnow

log = logging.getLogger("auth.mail")


# ---------------------------------------------------------------- composing (in the request's transaction)


def _wake_after_commit(session: Session) -> None:
    wake: threading.Event | None = session.info.get("mail_wake")
    if wake is not None:
        after_commit(session, wake.set)


def queue_mail(session: Session, *, to: str, subject: str, text: str, html_body: str | None = None) -> None:
    """Queue a mail in the caller's transaction (sent after commit)."""
    repo.add_message(
        session,
        OutboundMessage(channel="email", recipient=to, subject=subject, body_text=text, body_html=html_body),
    )
    _wake_after_commit(session)


def queue_sms(session: Session, *, to: str, text: str) -> None:
    """Queue an SMS in the caller's transaction (sent after commit)."""
    repo.add_message(session, OutboundMessage(channel="sms", recipient=to, subject="", body_text=text))
    _wake_after_commit(session)


def render(greeting_name: str, paragraphs: list[str], link: str | None = None, link_label: str = "") -> tuple[str, str]:
    """(text, html) of a simple mail; every interpolated value is HTML-escaped."""
    text = "\n\n".join([f"Hi {greeting_name},", *paragraphs, *([link] if link else []), "— ShareMyShows"])
    parts = [f"<p>Hi {html.escape(greeting_name)},</p>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in paragraphs]
    if link:
        parts.append(f'<p><a href="{html.escape(link, quote=True)}">{html.escape(link_label or link)}</a></p>')
    parts.append("<p>— ShareMyShows</p>")
    return text, "<html><body>" + "".join(parts) + "</body></html>"


# ---------------------------------------------------------------- delivery


class MailTransport(Protocol):
    """Delivers one mail."""

    def send(self, message: EmailMessage) -> None:
        """Send or store the message; raise on failure."""
        ...


class FileMailSink:
    """Development sink: one .eml file per message under {VAR_DIR}/mail/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, message: EmailMessage) -> None:
        """Write the message atomically (tests read these files)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(bytes(message))
        tmp.replace(self.folder / name)


class SmtpTransport:
    """SMTP from a URL: smtp://user:pass@host:25, smtps://... (TLS), smtp+starttls://..."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.parts = urlsplit(url)
        self.timeout_s = timeout_s

    def send(self, message: EmailMessage) -> None:
        """Deliver over SMTP."""
        p = self.parts
        host = p.hostname or "localhost"
        if p.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, p.port or 465, timeout=self.timeout_s)
        else:
            client = smtplib.SMTP(host, p.port or 25, timeout=self.timeout_s)
        with client:
            if p.scheme == "smtp+starttls":
                client.starttls()
            if p.username:
                client.login(unquote(p.username), unquote(p.password or ""))
            client.send_message(message)


class SmsSender(Protocol):
    """Pluggable SMS delivery (real providers implement this interface)."""

    def send(self, to: str, text: str) -> None:
        """Send `text` to the phone number `to`; raise on failure."""
        ...


class FileSmsSender:
    """Development sender: one text file per SMS under {VAR_DIR}/sms/."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, text: str) -> None:
        """Write the SMS to a file named after the time and number."""
        self.folder.mkdir(parents=True, exist_ok=True)
        digits = "".join(ch for ch in to if ch.isdigit())
        name = f"{utcnow().strftime('%Y%m%dT%H%M%S%f')}-{digits}-{uuid.uuid4().hex[:6]}.txt"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_text(f"To: {to}\n\n{text}\n")
        tmp.replace(self.folder / name)


def make_sms_sender(settings: AuthSettings) -> SmsSender:
    """The configured SMS sender (only the development file sender ships)."""
    return FileSmsSender(settings.var_dir / "sms")


class MessageSender:
    """Drains the outbound table: claims each message, sends it, marks it sent (retries later on failure)."""

    def __init__(self, settings: AuthSettings, session_factory: sessionmaker[Session]) -> None:
        self.settings = settings
        self.factory = session_factory
        self.transport: MailTransport = (
            SmtpTransport(settings.smtp_url) if settings.smtp_url else FileMailSink(settings.var_dir / "mail")
        )
        self.sms: SmsSender = make_sms_sender(settings)
        self.wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _build(self, msg: OutboundMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.mail_from
        mail["To"] = msg.recipient
        mail["Subject"] = msg.subject
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(domain="sharemyshows.local")
        mail.set_content(msg.body_text)
        if msg.body_html:
            mail.add_alternative(msg.body_html, subtype="html")
        return mail

    def _deliver(self, msg: OutboundMessage) -> None:
        if msg.channel == "sms":
            self.sms.send(msg.recipient, msg.body_text)
        else:
            self.transport.send(self._build(msg))

    def drain(self) -> int:
        """Send every pending message now; the number sent."""
        sent = 0
        with session_scope(self.factory) as s:
            ids = repo.pending_message_ids(s, utcnow())
        for message_id in ids:
            now = utcnow()
            with session_scope(self.factory) as s:
                msg = repo.claim_message(s, message_id, now, now + timedelta(seconds=60))
            if msg is None:
                continue
            try:
                self._deliver(msg)
            except Exception as exc:
                log.warning("sending message %s failed: %s", message_id, exc)
                with session_scope(self.factory) as s:
                    row = s.get(OutboundMessage, message_id)
                    if row is not None:
                        row.last_error = str(exc)[:500]
                        # back off: retry after a delay that grows with the attempts
                        row.locked_until = utcnow() + timedelta(seconds=min(600, 5 * 2 ** min(row.attempts, 7)))
                continue
            with session_scope(self.factory) as s:
                row = s.get(OutboundMessage, message_id)
                if row is not None:
                    row.sent_at = utcnow()
                    row.locked_until = None
            sent += 1
        return sent

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.drain()
            except Exception:
                log.exception("message sender loop failed")
            self.wake.wait(self.settings.mail_poll_interval_s)
            self.wake.clear()

    def start(self) -> None:
        """Start the background sender thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="auth-mail-sender", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop the thread (pending messages stay queued)."""
        self._stop.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
