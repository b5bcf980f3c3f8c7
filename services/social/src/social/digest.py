"""The email digest job: unread notifications batched into at most one mail per person per interval.

Mail goes through auth's mail outbox (auth owns addresses and delivery): `POST
{AUTH_URL}/internal/users/{id}/mail` queues it in auth's database, its sender thread delivers it. The
notifications of a digest are marked in the same social transaction that asked auth; if that commit fails
after auth queued the mail, the next run mails them again (at least once, never lost).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.db import process_lock, session_scope, try_transaction_lock
from shared.internal import InternalClient
from social import notifications as notes
from social import repository as repo
from social.config import SocialSettings

log = logging.getLogger("social.digest")
BATCH = 200


def link_secret(settings: SocialSettings) -> str:
    """The key of unsubscribe links (SOCIAL_LINK_SECRET, else derived from INTERNAL_TOKEN)."""
    return settings.link_secret or settings.internal_token


def run_once(session_factory: sessionmaker[Session], auth: InternalClient, settings: SocialSettings) -> int:
    """One pass over everyone with pending notifications; how many digests were mailed."""
    with session_scope(session_factory) as session:
        users = repo.digest_candidates(session, BATCH)
    sent = 0
    secret = link_secret(settings)
    for uid in users:
        with session_scope(session_factory) as session:
            if not try_transaction_lock(session, f"social-digest-{uid}"):
                continue
            batch = notes.digest_for(session, uid, now=notes.now(), interval_s=settings.digest_interval_s)
            if not batch:
                continue
            mail = notes.digest_mail(batch, notes.unsubscribe_link(settings.public_base_url, secret, uid),
                                     settings.public_base_url)
            resp = auth.request("POST", f"/internal/users/{uid}/mail", json=mail)
            if resp.status_code == 404:
                continue  # no such account (being deleted): the batch stays marked, nothing to mail
            if resp.status_code >= 400:
                raise RuntimeError(f"auth answered {resp.status_code} to a digest")
            sent += 1
    return sent


class DigestJob:
    """A thread running the digest (and deleting expired positions) every SOCIAL_DIGEST_POLL_S, one replica at once."""

    def __init__(self, engine: Engine, session_factory: sessionmaker[Session], auth: InternalClient,
                 settings: SocialSettings) -> None:
        self.engine = engine
        self.session_factory = session_factory
        self.auth = auth
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (if digests are enabled)."""
        if not self.settings.digest_enabled:
            return
        self._thread = threading.Thread(target=self._run, name="social-digest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(self.settings.digest_poll_s):
            try:
                with process_lock(self.engine, "social-digest") as mine:
                    if mine:
                        with session_scope(self.session_factory) as session:  # positions are not kept
                            repo.purge_expired_locations(session, notes.now())
                        run_once(self.session_factory, self.auth, self.settings)
            except Exception as exc:  # the next pass tries again
                log.warning("digest pass failed: %s", exc)
