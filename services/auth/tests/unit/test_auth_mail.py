"""The outbound mail/SMS sender: delivery after commit, no double send, retry with backoff."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

from auth.config import AuthSettings
from auth.mail import MessageSender, queue_mail, queue_sms
from auth.models import OutboundMessage
from shared.db import make_engine, make_session_factory, run_migrations, session_scope


def _sender(tmp_path: Path) -> MessageSender:
    settings = AuthSettings(ENV="testing", VAR_DIR=str(tmp_path), DATABASE_URL=f"sqlite:///{tmp_path / 'a.db'}")  # type: ignore[arg-type]
    run_migrations("auth", settings.db_url)
    return MessageSender(settings, make_session_factory(make_engine(settings.db_url)))


def test_each_message_is_sent_once_even_with_two_senders(tmp_path: Path) -> None:
    first = _sender(tmp_path)
    second = MessageSender(first.settings, first.factory)
    with session_scope(first.factory) as s:
        queue_mail(s, to="a@example.test", subject="Hi", text="plain", html_body="<p>html</p>")
        queue_sms(s, to="+15551234567", text="code 123456")
    assert first.drain() + second.drain() == 2
    assert first.drain() == 0
    mails = list((tmp_path / "mail").glob("*.eml"))
    sms = list((tmp_path / "sms").glob("*.txt"))
    assert len(mails) == 1 and len(sms) == 1
    raw = mails[0].read_text()
    assert "To: a@example.test" in raw and "Subject: Hi" in raw and "text/html" in raw
    assert "123456" in sms[0].read_text()


def test_failed_delivery_is_kept_and_retried_later(tmp_path: Path) -> None:
    sender = _sender(tmp_path)

    class Broken:
        def send(self, message: EmailMessage) -> None:
            raise OSError("smtp down")

    sender.transport = Broken()
    with session_scope(sender.factory) as s:
        queue_mail(s, to="a@example.test", subject="Hi", text="plain")
    assert sender.drain() == 0
    with session_scope(sender.factory) as s:
        row = s.query(OutboundMessage).one()
        assert row.sent_at is None and row.attempts == 1 and "smtp down" in (row.last_error or "")
        assert row.locked_until is not None
    assert sender.drain() == 0  # backing off: not retried at once
    with session_scope(sender.factory) as s:
        s.query(OutboundMessage).update({"locked_until": None})
    sender.transport = type("Ok", (), {"send": lambda self, m: None})()
    assert sender.drain() == 1
