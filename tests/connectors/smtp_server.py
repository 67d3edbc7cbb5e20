"""A real local SMTP server (aiosmtpd) for the email channel's tests, and a throwaway CA.

`serve()` runs aiosmtpd's threaded `Controller` on 127.0.0.1 with a free port, optionally with
AUTH (a single account), STARTTLS or implicit TLS. The `Mailbox` handler keeps what arrived
(envelope and raw bytes), refuses chosen recipients, and can answer DATA with queued replies
(`451` once, then accept) to exercise retries.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    """One accepted mail: the envelope, the raw bytes, and how the session was secured."""

    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    authenticated: bool
    tls: bool

    def parsed(self) -> EmailMessage:
        """The mail as a reader's client sees it."""
        return cast(EmailMessage, message_from_bytes(self.content, policy=email_policy.default))


def related_html(mail: EmailMessage) -> tuple[str, dict[str, EmailMessage]]:
    """The HTML a reader's client shows and the parts its `cid:` URLs resolve to (RFC 2392):
    the other parts of the multipart/related the HTML opens, by Content-ID."""
    (related,) = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    html, *others = cast(list[EmailMessage], related.get_payload())
    assert html.get_content_type() == "text/html"
    by_cid = {str(p["Content-ID"]).strip().strip("<>"): p for p in others if p["Content-ID"]}
    return html.get_content(), by_cid


@dataclass
class Mailbox:
    """aiosmtpd handler: stores mail, refuses listed recipients, replays queued DATA replies."""

    received: list[Received] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    data_attempts: int = 0

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options):
        """Refuse the listed addresses with their reply, accept the rest."""
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Answer a queued reply if any (e.g. `451`), else keep the mail."""
        self.data_attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                envelope.original_content,
                bool(session.authenticated),
                session.ssl is not None
                or server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 2.0.0 Message accepted for delivery"


@dataclass(frozen=True)
class Account:
    """The one login the server accepts (LOGIN or PLAIN)."""

    username: str
    password: str

    def __call__(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        """aiosmtpd authenticator: a wrong pair makes the server answer 535."""
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.username.encode(),
            self.password.encode(),
        )
        return AuthResult(success=ok, handled=False)


@dataclass
class Server:
    """A running server: where it listens and what it received."""

    port: int
    mailbox: Mailbox


def free_port() -> int:
    """A port nothing listens on right now (also what a dead SMTP server looks like)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(
    mailbox: Mailbox | None = None,
    *,
    account: Account | None = None,
    auth_required: bool = False,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
) -> Iterator[Server]:
    """Run aiosmtpd until the block ends; AUTH without TLS only when no TLS is configured."""
    box = mailbox or Mailbox()
    port = free_port()
    controller = Controller(
        box,
        hostname=HOST,
        port=port,
        server_hostname="mail.test",  # no getfqdn() lookup per session
        ssl_context=implicit_tls,
        tls_context=starttls,
        require_starttls=starttls is not None,
        authenticator=account,
        auth_required=auth_required,
        auth_require_tls=starttls is not None,
    )
    controller.start()
    try:
        yield Server(port, box)
    finally:
        controller.stop()


@dataclass(frozen=True)
class Tls:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        """What aiosmtpd presents."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))


def make_tls(folder: Path) -> Tls:
    """Write a CA certificate and a 127.0.0.1 server certificate (with key) into `folder`."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stagecast test CA")])
    ca = _certificate(ca_name, ca_name, ca_key.public_key(), ca_key, ca=True)
    leaf = _certificate(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]),
        ca_name,
        key.public_key(),
        ca_key,
        ca=False,
    )
    tls = Tls(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    tls.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    tls.cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    tls.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return tls


def _certificate(subject, issuer, public_key, signing_key, *, ca: bool) -> x509.Certificate:
    """A certificate with the extensions strict verifiers (X509_STRICT) insist on."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    return builder.sign(signing_key, hashes.SHA256())
