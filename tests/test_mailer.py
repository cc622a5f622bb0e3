"""E-mailed invitations, delivered to a real SMTP server (aiosmtpd) on loopback.

The queue is filled the way the bot fills it (a rencontre change in a command's
transaction); the mailer service then sends due rows, retries with backoff when
the server is down, and never sends one row twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import ipaddress
from email import policy
from email.message import EmailMessage
from typing import Self
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlmodel import select

from bot.calendar import mailer
from bot.ops.devserver import free_port
from bot.storage.models import EmailOutbox, Rencontre, RencontreStatus, Subscriber
from bot.support.signals import rencontre_changed
from tests.conftest import FACILITATOR, MEMBER, NOW, ROOM, make_config
from tests.icalcheck import check_rules, parse_both
from tests.servicehost import FakeHost

PARIS = ZoneInfo("Europe/Paris")
SENDER = "maillage@reseau-cpo.test"
RECIPIENT = "anabela@ville-beauvais.fr"
UID = "rencontre-mail@localhost"


# --------------------------------------------------------------------------- helpers


class Collect:
    """aiosmtpd handler keeping every message received."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 Message accepted"

    def messages(self) -> list[EmailMessage]:
        return [email.message_from_bytes(e.original_content, policy=policy.default)
                for e in self.envelopes]


class SmtpServer:
    """A real SMTP server on 127.0.0.1, started and stopped by the test."""

    def __init__(self, port: int, **options):
        self.handler = Collect()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port, **options)

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


def email_table(port: int, **extra) -> dict:
    return {"host": "127.0.0.1", "port": port, "starttls": False,
            "from": f"Maillage réseau <{SENDER}>", **extra}


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def config(tmp_path, smtp_port):
    return make_config(tmp_path, email=email_table(smtp_port))


def queue_change(make_ctx, change: str, event_id: str) -> None:
    """A rencontre change handled like in a command: rows queued, transaction committed."""
    ctx = make_ctx(sender=FACILITATOR, event_id=event_id)
    if ctx.session.get(Subscriber, (ROOM, MEMBER)) is None:
        ctx.session.add(Subscriber(room_id=ROOM, user_id=MEMBER, email=RECIPIENT, created_at=NOW))
    rencontre = ctx.session.exec(select(Rencontre).where(Rencontre.uid == UID)).first()
    if rencontre is None:
        rencontre = Rencontre(room_id=ROOM, number=4, uid=UID, title="Réseau CPO ; bilan, suite",
                              start_at=dt.datetime(2026, 12, 3, 14, tzinfo=PARIS),
                              end_at=dt.datetime(2026, 12, 3, 17, tzinfo=PARIS),
                              created_at=NOW, updated_at=NOW)
        ctx.session.add(rencontre)
    if change == "cancelled":
        rencontre.status, rencontre.sequence = RencontreStatus.CANCELLED, rencontre.sequence + 1
    ctx.session.flush()
    rencontre_changed.send(ctx, rencontre, change)
    ctx.session.commit()


def rows(db) -> list[EmailOutbox]:
    with db.session() as session:
        return list(session.exec(select(EmailOutbox).order_by(EmailOutbox.id)))


def calendar_part(message: EmailMessage) -> EmailMessage:
    [part] = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    return part


# --------------------------------------------------------------------------- the message


async def test_invitation_then_cancellation_arrive(make_ctx, config, db, smtp_port):
    host = FakeHost(config, db, now=NOW)
    with SmtpServer(smtp_port) as server:
        queue_change(make_ctx, "created", "$create")
        assert await mailer.deliver_due(host) == 1
        queue_change(make_ctx, "cancelled", "$cancel")
        assert await mailer.deliver_due(host) == 1
        assert await mailer.deliver_due(host) == 0

    assert [(e.mail_from, e.rcpt_tos) for e in server.handler.envelopes] == [
        (SENDER, [RECIPIENT])] * 2
    request, cancel = server.handler.messages()
    for message, method, sequence in [(request, "REQUEST", 0), (cancel, "CANCEL", 1)]:
        assert message["To"] == RECIPIENT
        assert message["From"].addresses[0].addr_spec == SENDER
        assert message.get_content_type() == "multipart/mixed"
        assert message["Content-Class"] == "urn:content-classes:calendarmessage"
        assert message["Auto-Submitted"] == "auto-generated"
        [alternative, attachment] = message.iter_parts()
        assert alternative.get_content_type() == "multipart/alternative"
        text, cal = alternative.iter_parts()
        assert text.get_content_type() == "text/plain" and "Bonjour" in text.get_content()
        assert cal.get_content_type() == "text/calendar"
        assert cal.get_param("method") == method and cal.get_content_charset() == "utf-8"
        assert attachment.get_content_type() == "application/ics"
        assert attachment.get_filename() == "invite.ics"
        assert attachment.get_content_disposition() == "attachment"
        data = cal.get_payload(decode=True)
        assert attachment.get_payload(decode=True) == data
        check_rules(data, method)
        [event] = parse_both(data)
        assert (event["uid"], event["sequence"], event["_method"]) == (UID, sequence, method)
        assert event["summary"] == "Réseau CPO ; bilan, suite"
        assert {a["address"] for a in event["attendees"]} == {f"mailto:{RECIPIENT}"}
        assert event["organizer"]["address"] == f"mailto:{SENDER}"
    assert request["Subject"].startswith("Invitation : Réseau CPO ; bilan, suite — jeudi 3 décembre")
    assert cancel["Subject"].startswith("Rencontre annulée : ")
    assert request["Message-ID"] != cancel["Message-ID"]
    assert all(row.sent_at is not None and row.attempts == 0 for row in rows(db))


async def test_smtp_down_is_retried_later_and_sent_once(make_ctx, config, db, smtp_port, caplog):
    host = FakeHost(config, db, now=NOW)
    queue_change(make_ctx, "created", "$create")

    assert await mailer.deliver_due(host) == 0  # nobody listens on smtp_port
    [row] = rows(db)
    assert (row.sent_at, row.attempts) == (None, 1)
    assert row.next_attempt_at == NOW + dt.timedelta(minutes=1)
    assert row.last_error
    assert "e-mail #1 not sent (attempt 1" in caplog.text

    with SmtpServer(smtp_port) as server:
        host.now = NOW + dt.timedelta(seconds=30)
        assert await mailer.deliver_due(host) == 0  # not due yet: the backoff is respected
        assert server.handler.envelopes == []
        host.now = NOW + dt.timedelta(minutes=1)
        assert await mailer.deliver_due(host) == 1
        host.now = NOW + dt.timedelta(hours=1)
        assert await mailer.deliver_due(host) == 0
        assert len(server.handler.envelopes) == 1
    [row] = rows(db)
    assert row.sent_at == NOW + dt.timedelta(minutes=1) and row.attempts == 1


def test_retry_delays_grow_and_end(config, db):
    assert [mailer.retry_delay(n) for n in (1, 2, 3, 4)] == [
        dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert mailer.retry_delay(30) == dt.timedelta(hours=6)
    with db.session() as session:
        mailer.queue(session, dedup_key="k", recipient=RECIPIENT, subject="s", text="t",
                     ics=b"x", method="REQUEST", now=NOW)
    for _ in range(mailer.MAX_ATTEMPTS):
        assert mailer.due(db, NOW + dt.timedelta(days=30))
        mailer.mark_failed(db, 1, "refused", NOW)
    assert mailer.due(db, NOW + dt.timedelta(days=30)) == []  # given up
    assert mailer.next_attempt(db) is None


def test_queue_is_deduplicated(db):
    with db.session() as session:
        assert mailer.queue(session, dedup_key="uid|0|REQUEST|a@b.fr", recipient="a@b.fr",
                            subject="Invitation :\n x", text="t", ics=b"x", method="REQUEST",
                            now=NOW)
        assert not mailer.queue(session, dedup_key="uid|0|REQUEST|a@b.fr", recipient="a@b.fr",
                                subject="s", text="t", ics=b"x", method="REQUEST", now=NOW)
    [row] = rows(db)
    assert row.subject == "Invitation : x"  # no line break can reach a header


# --------------------------------------------------------------------------- the service


async def test_service_sends_when_a_change_is_signalled(make_ctx, config, db, smtp_port):
    host = FakeHost(config, db, now=NOW)
    with SmtpServer(smtp_port) as server:
        task = asyncio.create_task(mailer.run(host))
        try:
            await asyncio.sleep(0.2)
            queue_change(make_ctx, "created", "$create")
            for event in host.changes:
                event.set()  # what the runtime does after each sync batch
            for _ in range(100):
                if server.handler.envelopes:
                    break
                await asyncio.sleep(0.05)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert len(server.handler.envelopes) == 1


async def test_service_is_idle_without_email_config(tmp_path, db):
    host = FakeHost(make_config(tmp_path), db, now=NOW)
    await asyncio.wait_for(mailer.run(host), 1)  # returns at once
    assert host.changes == []


# --------------------------------------------------------------------------- STARTTLS + AUTH


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


async def test_starttls_and_login(tmp_path, make_ctx, db, smtp_port, monkeypatch):
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # the client trusts our test CA
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        ok = (auth_data.login, auth_data.password) == (b"maillage", b"mot-de-passe-smtp")
        return AuthResult(success=ok, handled=False)

    config = make_config(tmp_path, email=email_table(
        smtp_port, starttls=True, username="maillage", password="mot-de-passe-smtp"))
    host = FakeHost(config, db, now=NOW)
    with SmtpServer(smtp_port, tls_context=server_tls, require_starttls=True,
                    authenticator=authenticator, auth_required=True) as server:
        queue_change(make_ctx, "created", "$create")
        assert await mailer.deliver_due(host) == 1
    assert logins == [(b"maillage", b"mot-de-passe-smtp")]
    assert len(server.handler.envelopes) == 1


async def test_refused_login_is_retried(tmp_path, make_ctx, db, smtp_port, monkeypatch):
    import ssl

    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))
    config = make_config(tmp_path, email=email_table(
        smtp_port, starttls=True, username="maillage", password="mauvais"))
    host = FakeHost(config, db, now=NOW)
    with SmtpServer(smtp_port, tls_context=server_tls, require_starttls=True,
                    authenticator=lambda *a: AuthResult(success=False, handled=False), auth_required=True) as server:
        queue_change(make_ctx, "created", "$create")
        assert await mailer.deliver_due(host) == 0
    [row] = rows(db)
    assert row.sent_at is None and row.attempts == 1 and server.handler.envelopes == []
    assert "535" in row.last_error and "mauvais" not in row.last_error
