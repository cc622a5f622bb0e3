"""E-mail invitations: an outbox in the database and a service that sends it by SMTP.

Commands only add ``EmailOutbox`` rows, in their own transaction; the mailer service
below sends due rows with aiosmtplib. A failure (server down, refused login…) is
logged and retried later with a growing delay, so SMTP never blocks the room or
the sync loop. Each message is an iTIP invitation as mail clients expect it
(RFC 6047): ``multipart/alternative`` with a French text part and a
``text/calendar; method=…`` part, plus the same file attached as ``invite.ics``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from sqlmodel import Session, col, select

from bot.engine.host import Changes, ServiceHost
from bot.storage.db import Database
from bot.storage.models import EmailOutbox
from bot.support.config import EmailConfig
from bot.support.errors import UserError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12                       # about a day and a half of retries, then given up
FIRST_RETRY = timedelta(minutes=1)
LONGEST_RETRY = timedelta(hours=6)
IDLE_WAKE_SECONDS = 60                  # look for due rows at least this often
DB_RETRY_SECONDS = 30                   # after a failed round (e.g. the database away)
SMTP_TIMEOUT_SECONDS = 30
BATCH = 20
IMPLICIT_TLS_PORT = 465                 # "SMTPS": TLS from the first byte, no STARTTLS

# RFC 5321/5322 dot-atom local part, ASCII only (most servers do not speak SMTPUTF8).
_LOCAL_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")
_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD_RE = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
EXAMPLE_ADDRESS = "prenom.nom@ville.fr"


# --------------------------------------------------------------------------- addresses


def _ascii_domain(domain: str) -> str:
    """The domain in ASCII (IDNA for accented domains), or a UserError."""
    try:
        return domain.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UserError(f"le domaine « {domain} » n'est pas un nom de domaine valide.") from None


def check_address(text: str) -> str:
    """A strictly valid address ``local@domain`` (no DNS look-up), domain in lower case."""
    address = text.strip()
    if address.count("@") != 1:
        raise UserError(f"« {address} » n'est pas une adresse e-mail "
                        f"(il faut une seule arobase « @ », par exemple {EXAMPLE_ADDRESS}).")
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL_RE.match(local):
        raise UserError(f"la partie avant « @ » de « {address} » n'est pas valide "
                        "(lettres sans accents, chiffres, points non consécutifs).")
    domain = _ascii_domain(domain) if domain else ""
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL_RE.match(label) for label in labels) \
            or not _TLD_RE.match(labels[-1]) or len(domain) > 253:
        raise UserError(f"le domaine de « {address} » n'est pas valide "
                        f"(par exemple {EXAMPLE_ADDRESS}).")
    if len(local) + 1 + len(domain) > 254:
        raise UserError("cette adresse e-mail est trop longue.")
    return f"{local}@{domain}"


# --------------------------------------------------------------------------- the outbox


def queue(session: Session, *, dedup_key: str, recipient: str, subject: str, text: str,
          ics: bytes, method: str, now: datetime) -> bool:
    """Add an e-mail to send (in the caller's transaction); False if already queued."""
    if session.exec(select(EmailOutbox.id).where(EmailOutbox.dedup_key == dedup_key)).first():
        return False
    session.add(EmailOutbox(dedup_key=dedup_key, recipient=recipient, subject=" ".join(subject.split()),
                            text=text, ics=ics, method=method, created_at=now))
    return True


def drop_pending(session: Session, recipient: str, dedup_prefixes: list[str]) -> int:
    """Forget unsent e-mails to ``recipient`` whose key starts with one of the prefixes."""
    query = select(EmailOutbox).where(col(EmailOutbox.sent_at).is_(None),
                                      EmailOutbox.recipient == recipient)
    dropped = [row for row in session.exec(query) if row.dedup_key.startswith(tuple(dedup_prefixes))]
    for row in dropped:
        session.delete(row)
    return len(dropped)


def due(db: Database, now: datetime, limit: int = BATCH) -> list[EmailOutbox]:
    """Unsent rows whose next attempt time has come, oldest first."""
    with db.session() as session:
        query = (select(EmailOutbox)
                 .where(col(EmailOutbox.sent_at).is_(None), EmailOutbox.attempts < MAX_ATTEMPTS)
                 .where((col(EmailOutbox.next_attempt_at).is_(None))
                        | (col(EmailOutbox.next_attempt_at) <= now))
                 .order_by(col(EmailOutbox.id)).limit(limit))
        return list(session.exec(query))


def next_attempt(db: Database) -> datetime | None:
    """When the earliest postponed row becomes due (None: nothing waiting)."""
    with db.session() as session:
        query = (select(EmailOutbox.next_attempt_at)
                 .where(col(EmailOutbox.sent_at).is_(None), EmailOutbox.attempts < MAX_ATTEMPTS)
                 .where(col(EmailOutbox.next_attempt_at).is_not(None))
                 .order_by(col(EmailOutbox.next_attempt_at)).limit(1))
        return session.exec(query).first()


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4, 8… minutes after the n-th failure, at most six hours."""
    return min(FIRST_RETRY * 2 ** (attempts - 1), LONGEST_RETRY)


def mark_sent(db: Database, row_id: int, now: datetime) -> None:
    with db.session() as session:
        row = session.get(EmailOutbox, row_id)
        row.sent_at, row.last_error = now, None


def mark_failed(db: Database, row_id: int, error: str, now: datetime) -> EmailOutbox:
    with db.session() as session:
        row = session.get(EmailOutbox, row_id)
        row.attempts += 1
        row.last_error = error[:500]
        row.next_attempt_at = now + retry_delay(row.attempts)
        return row


# --------------------------------------------------------------------------- the message


def build_message(row: EmailOutbox, sender: str, now: datetime) -> EmailMessage:
    """The iTIP e-mail: text + text/calendar alternatives, and invite.ics attached."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "maillage.invalid"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Date"] = format_datetime(now)
    # Stable per invitation: a resend after a crash is recognisable as the same mail.
    message["Message-ID"] = f"<{hashlib.sha256(row.dedup_key.encode()).hexdigest()[:40]}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies to the bot
    message.set_content(row.text, cte="quoted-printable")
    message.add_alternative(row.ics, maintype="text", subtype="calendar",
                            params={"method": row.method, "charset": "UTF-8"})
    message.add_attachment(row.ics, maintype="application", subtype="ics", filename="invite.ics",
                           params={"name": "invite.ics"})
    # After the body: building it moves every Content-* header to the first part.
    message["Content-Class"] = "urn:content-classes:calendarmessage"  # older Outlook
    return message


async def send(config: EmailConfig, message: EmailMessage, recipient: str) -> None:
    """One SMTP session (STARTTLS required when configured; port 465 means implicit TLS)."""
    implicit_tls = config.port == IMPLICIT_TLS_PORT
    await aiosmtplib.send(
        message, sender=parseaddr(config.sender)[1], recipients=[recipient],
        hostname=config.host, port=config.port, use_tls=implicit_tls,
        start_tls=False if implicit_tls else config.starttls,
        username=config.username or None, password=config.password or None,
        timeout=SMTP_TIMEOUT_SECONDS)


# --------------------------------------------------------------------------- the service


async def deliver_due(host: ServiceHost) -> int:
    """Try every due row once (a failed row is postponed, so it is not due again
    in this pass); returns how many were sent."""
    sent = 0
    while rows := await host.in_worker(due, host.db, host.clock()):
        for row in rows:
            sent += await _deliver(host, row)
    return sent


async def _deliver(host: ServiceHost, row: EmailOutbox) -> bool:
    config = host.config.email
    try:
        await send(config, build_message(row, config.sender, host.clock()), row.recipient)
    except Exception as error:  # SMTP, network, or a bad row: back off, never stop the bot
        failed = await host.in_worker(mark_failed, host.db, row.id, str(error), host.clock())
        if failed.attempts >= MAX_ATTEMPTS:
            log.error("e-mail #%d given up after %d attempts: %s", row.id, failed.attempts, error)
        else:
            log.warning("e-mail #%d not sent (attempt %d, next at %s): %s", row.id, failed.attempts,
                        failed.next_attempt_at.isoformat(timespec="seconds"), error)
        return False
    await host.in_worker(mark_sent, host.db, row.id, host.clock())
    log.info("e-mail #%d sent (%s)", row.id, row.method)
    return True


async def _wait(host: ServiceHost, changes: Changes) -> None:
    """Until something changed (a command may have queued mail) or a retry is due."""
    wake = await host.in_worker(next_attempt, host.db)
    delay = IDLE_WAKE_SECONDS
    if wake is not None:
        delay = max(0.0, min(delay, (wake - host.clock()).total_seconds()))
    await changes.wait(delay)


async def run(host: ServiceHost) -> None:
    """Send queued invitations; does nothing when ``[email]`` is not configured."""
    if host.config.email is None:
        return
    changes = Changes(host)
    while True:
        try:
            await deliver_due(host)
            await _wait(host, changes)
        except Exception as error:  # e.g. the database away: never stop the bot, retry later
            log.warning("e-mail round failed, retrying in %ss: %s", DB_RETRY_SECONDS, error)
            await changes.wait(DB_RETRY_SECONDS)
