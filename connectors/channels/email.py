"""The `email` channel: a report as multipart mail (plain text + HTML) over SMTP.

- The HTML's inline images (the burn-up chart) travel as multipart/related parts named by
  Content-ID, so they show without the reader allowing remote images.

- `build_payload` is pure apart from the clock: headers go through `email.policy.SMTP`, so
  non-ASCII subjects are RFC 2047 encoded and no header value can carry a line break.
- The `Message-ID` is a hash of (project, kind, period, channel): a resend after an ambiguous
  failure is recognisably the same report, and mail clients fold the copies into one.
- `send` retries transient faults (no connection, timeouts, a dropped link, 4xx replies) with
  jittered backoff, then gives up with a retryable `DeliveryError` so the ledger keeps the
  delivery `failed` and `deliver-pending` tries again; 5xx replies are final.
- Passwords are resolved at send time and never appear in logs, errors or receipts; an auth
  failure names the references (`env:SMTP_USER`), never their values.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from email import policy as email_policy
from email.message import EmailMessage
from email.utils import format_datetime

from connectors.channels.base import (
    NO_PART_LOG,
    Channel,
    ChannelContext,
    DeliveryError,
    PartLog,
    Receipt,
)
from connectors.http import RetryPolicy, Sleep, Try, again, retrying, succeeded
from connectors.secrets import reveal
from stagecast.config import ChannelConfig, ConfigError, EmailChannelConfig, SecretRef
from stagecast.models import InlineImage, Message

log = logging.getLogger(__name__)

# 7bit: bodies are quoted-printable or base64, so servers without 8BITMIME take them too.
MAIL_POLICY = email_policy.SMTP.clone(cte_type="7bit")

# The ledger retries later anyway, so a few quick tries are enough here.
SMTP_RETRY = RetryPolicy(tries=3, base_delay=2.0, max_delay=20.0)

# Anything `str.splitlines()` would break on, so a title can never become two header lines.
_LINE_BREAKS = "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"


@dataclass(frozen=True)
class _Login:
    """Resolved credentials plus how to name them in an error without showing them."""

    username: str
    password: str = field(repr=False)  # a traceback showing locals must not show it
    described: str = ""

    def redact(self, text: str) -> str:
        """A server reply with any echo of the credentials blanked out."""
        for value in (self.password, self.username):
            if value:
                text = text.replace(value, "****")
        return text


# RFC 5321 §4.5.3.2.6 asks a client to wait 10 minutes for the reply to the final dot; a
# report run cannot hold its claim that long, so 5 minutes, past any real server's scan time.
FINAL_REPLY_SECONDS = 300.0


class _Leaving:
    """Marks the moment the message data starts to leave, in the part log and for `send`."""

    def __init__(self, parts: PartLog) -> None:
        self.parts, self.left = parts, False

    def watch(self, smtp: smtplib.SMTP) -> None:
        """Wrap this session's DATA: the log is told first, and the final reply gets longer."""
        original = smtp.data

        def data(msg: bytes | str) -> tuple[int, bytes]:
            self.parts.leaving(1)
            self.left = True
            if smtp.sock is not None:
                smtp.sock.settimeout(max(FINAL_REPLY_SECONDS, smtp.timeout or 0))
            return original(msg)

        smtp.data = data  # type: ignore[method-assign]


class EmailChannel:
    """Sends a report to the configured `to` and `cc` through the configured SMTP server."""

    def __init__(
        self,
        cfg: EmailChannelConfig,
        *,
        tls_context: ssl.SSLContext | None = None,
        retry: RetryPolicy = SMTP_RETRY,
        sleep: Sleep = time.sleep,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """`tls_context` lets tests trust a local CA; production uses the system's trust store."""
        self.name = cfg.name
        self.cfg = cfg
        self._tls_context = tls_context
        self._retry = retry
        self._sleep = sleep
        self._clock = clock or (lambda: datetime.now().astimezone())

    @property
    def recipients(self) -> list[str]:
        """Envelope recipients: `to` then `cc` (there is no Bcc)."""
        return [*self.cfg.to, *self.cfg.cc]

    def message_id(self, message: Message) -> str:
        """Stable per (project, kind, period, channel), so a resend is the same mail."""
        key = "\x1f".join((message.project, message.kind, message.period, self.name))
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        return f"<stagecast.{digest}@{_domain(self.cfg.from_)}>"

    def build_payload(self, message: Message) -> EmailMessage:
        """The mail as it will be sent: headers, then text/plain (+ text/html) alternatives; the
        HTML's inline images (the burn-up chart) go with it in a multipart/related."""
        for address in [self.cfg.from_, *self.recipients]:
            _check_address(self.name, address)
        mail = EmailMessage(policy=MAIL_POLICY)
        set_subject(mail, one_line(message.title))
        mail["From"] = self.cfg.from_
        mail["To"] = ", ".join(self.cfg.to)
        if self.cfg.cc:
            mail["Cc"] = ", ".join(self.cfg.cc)
        mail["Date"] = format_datetime(self._clock())
        mail["Message-ID"] = self.message_id(message)
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies back
        mail.set_content(message.text, subtype="plain", charset="utf-8")
        if message.html is not None:
            mail.add_alternative(message.html, subtype="html", charset="utf-8")
            _relate(mail, message.images)
        # After the bodies: set_content replaces every Content-* header.
        mail["Content-Language"] = one_line(message.language)
        return mail

    def send(self, message: Message, parts: PartLog = NO_PART_LOG) -> Receipt:
        """Deliver with bounded retries; raise `DeliveryError` saying whether to try later.

        Faults before the message data leaves are retried; once it has left, a dropped link or
        a missing final reply means the server may have taken it (RFC 5321 §4.5.3.2.6): that
        is `maybe_delivered`, never retried here."""
        mail = self.build_payload(message)
        if parts.first > 1:  # an earlier try delivered it; only the ledger missed it
            return Receipt(self.name, f"{mail['Message-ID']} (delivered by an earlier try)")
        login = self._login()

        def attempt() -> Try[dict[str, tuple[int, bytes]]]:
            leaving = _Leaving(parts)
            try:
                refused = self._deliver(mail, login, leaving)
            except OSError as err:  # smtplib's and ssl's errors are OSErrors too
                if leaving.left and not isinstance(err, smtplib.SMTPResponseException):
                    raise self._maybe(err) from None
                parts.unsent()
                return again(self._transient_or_raise(err, login))
            parts.delivered(1)
            return succeeded(refused)

        def warn(reason: str, wait: float) -> None:
            log.warning("%s: %s; retrying in %.1fs", self._where(), reason, wait)

        result = retrying(self._retry, attempt, sleep=self._sleep, warn=warn)
        if result.done and result.value is not None:
            return self._receipt(mail, result.value)
        raise DeliveryError(f"{self._where()}: not delivered: {result.reason}", retryable=True)

    def _deliver(
        self, mail: EmailMessage, login: _Login | None, leaving: _Leaving
    ) -> dict[str, tuple[int, bytes]]:
        """One SMTP session: connect, secure, log in, send; the refused recipients come back."""
        smtp = self._connect()
        try:
            if self.cfg.smtp.starttls and not self.cfg.smtp.ssl:
                smtp.starttls(context=self._tls())
            if login is not None:
                smtp.login(login.username, login.password)
            leaving.watch(smtp)
            refused = smtp.send_message(mail, from_addr=self.cfg.from_, to_addrs=self.recipients)
        except BaseException:
            smtp.close()
            raise
        _quit(smtp)
        return refused

    def _maybe(self, err: OSError) -> DeliveryError:
        """The data left and no final reply came: it may be in the mailbox already."""
        what = "no final reply" if isinstance(err, TimeoutError) else type(err).__name__
        return DeliveryError(
            f"{self._where()}: the mail may have been delivered ({what} after the message was"
            " sent); not sent again automatically",
            retryable=False,
            maybe_delivered=True,
        )

    def _connect(self) -> smtplib.SMTP:
        """A connected client: implicit TLS for `ssl`, plain (maybe upgraded later) otherwise."""
        smtp = self.cfg.smtp
        if smtp.ssl:
            return smtplib.SMTP_SSL(
                smtp.host, smtp.port, timeout=smtp.timeout_seconds, context=self._tls()
            )
        return smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_seconds)

    def _tls(self) -> ssl.SSLContext:
        """The injected context, else one that verifies the server against the system CAs."""
        return self._tls_context or ssl.create_default_context()

    def _login(self) -> _Login | None:
        """Credentials when both are configured; a half-configured login is a config error."""
        username, password = self.cfg.smtp.username, self.cfg.smtp.password
        if username is None and password is None:
            return None
        if username is None or password is None:
            missing = "password" if password is None else "username"
            raise DeliveryError(
                f"{self._where()}: smtp.{missing} is missing (both or neither)", retryable=False
            )
        try:
            user, secret = reveal(username), reveal(password)
        except ConfigError as err:
            raise DeliveryError(f"{self._where()}: {err}", retryable=False) from None
        described = f"{_describe(username)}, {_describe(password)}"
        return _Login(user or "", secret or "", described)

    def _transient_or_raise(self, err: OSError, login: _Login | None) -> str:
        """Describe a transient fault for the retry loop; raise a final one at once."""
        if isinstance(err, smtplib.SMTPRecipientsRefused):
            return self._all_refused(err)
        if isinstance(err, smtplib.SMTPResponseException):
            return self._reply(err, login)
        if isinstance(err, TimeoutError) or isinstance(err.__context__, TimeoutError):
            return f"no answer within {self.cfg.smtp.timeout_seconds:g}s"  # smtplib wraps some
        if isinstance(err, smtplib.SMTPServerDisconnected):
            return f"connection closed by the server ({err})"
        if isinstance(err, smtplib.SMTPNotSupportedError):
            raise self._final(f"the server does not support it: {err}")
        if isinstance(err, smtplib.SMTPException):  # also an OSError: decide before those
            raise self._final(str(err))
        if isinstance(err, ssl.SSLCertVerificationError):
            raise self._final(f"TLS certificate not trusted ({err.verify_message})")
        if isinstance(err, ssl.SSLError):
            return f"TLS failed ({err.reason or err}); check smtp.ssl/starttls and the port"
        return f"cannot connect ({err.strerror or type(err).__name__})"

    def _reply(self, err: smtplib.SMTPResponseException, login: _Login | None) -> str:
        """4xx is worth another try; 5xx is final, with a hint for a refused login."""
        text = _reply_text(err)
        if login is not None:
            text = login.redact(text)
        if 400 <= err.smtp_code < 500:
            return f"temporary failure {text}"
        if isinstance(err, smtplib.SMTPAuthenticationError) and login is not None:
            raise self._final(
                f"login refused {text}; check the SMTP username/password ({login.described})"
            )
        if isinstance(err, smtplib.SMTPAuthenticationError) or err.smtp_code == 530:
            raise self._final(f"refused {text}; the server wants a login (smtp.username/password)")
        raise self._final(f"refused {text}")

    def _all_refused(self, err: smtplib.SMTPRecipientsRefused) -> str:
        """Every recipient refused: final if all said 5xx, else worth another try."""
        listed = _refusals(err.recipients)
        if all(code >= 500 for code, _ in err.recipients.values()):
            raise self._final(f"every recipient refused: {listed}")
        return f"recipients refused for now: {listed}"

    def _final(self, what: str) -> DeliveryError:
        """A failure that trying again will not fix."""
        return DeliveryError(f"{self._where()}: {what}", retryable=False)

    def _receipt(self, mail: EmailMessage, refused: dict[str, tuple[int, bytes]]) -> Receipt:
        """Message-ID and how many recipients took it; refused ones are named, not resent."""
        total = len(self.recipients)
        target = f"{mail['Message-ID']} ({total - len(refused)} of {total} recipients"
        if refused:
            names = _refusals(refused)
            log.warning("%s: sent, but some recipients refused: %s", self._where(), names)
            target += f"; refused: {names}"
        return Receipt(self.name, target + ")")

    def _where(self) -> str:
        """`channel 'client-mail' (smtp.example.com:587)`: what failed, no secrets."""
        return f"channel '{self.name}' ({self.cfg.smtp.host}:{self.cfg.smtp.port})"


def build(cfg: ChannelConfig, ctx: ChannelContext) -> Channel:
    """Factory for `CHANNEL_TYPES["email"]`."""
    if not isinstance(cfg, EmailChannelConfig):
        raise TypeError(f"channel '{cfg.name}' is a {cfg.type} channel, not email")
    return EmailChannel(cfg)


# Bytes of text per encoded word: "Subject: " plus one word stays within 78 characters.
_WORD_BYTES = 42


def _relate(mail: EmailMessage, images: tuple[InlineImage, ...]) -> None:
    """Put the images beside the HTML part (RFC 2387): multipart/alternative keeps the text
    first, then multipart/related holds the HTML and each image, inline, by its Content-ID."""
    if not images:
        return
    html = mail.get_payload()[-1]
    assert isinstance(html, EmailMessage)
    for image in images:
        maintype, _, subtype = image.mime_type.partition("/")
        html.add_related(
            image.data,
            maintype,
            subtype,
            cid=f"<{image.cid}>",
            disposition="inline",
            filename=image.filename,
        )
    html.set_param("type", "text/html")  # RFC 2387: the root part's type


def set_subject(mail: EmailMessage, title: str) -> None:
    """The subject, decoding to exactly `title`.

    Python 3.11's header folding can drop the space between two RFC 2047 encoded words
    (CPython gh-144156: about one Chinese subject in eleven lost a space in our tests). A
    non-ASCII title is therefore encoded here, as base64 words of whole characters with every
    space inside a word, folded one word per line, and stored as is (`set_raw`: the policy does
    not refold lines this short). An ASCII title needs no encoded words.
    """
    if title.isascii():
        mail["Subject"] = title
        return
    words: list[bytes] = [b""]
    for char in title:
        data = char.encode("utf-8")
        if len(words[-1]) + len(data) > _WORD_BYTES:
            words.append(b"")
        words[-1] += data
    encoded = [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words if w]
    mail.set_raw("Subject", "\n ".join(encoded))


def one_line(value: str) -> str:
    """Header text on one line: line breaks (and the spaces around them) become one space."""
    out = value
    for brk in _LINE_BREAKS:
        out = out.replace(brk, "\n")
    return " ".join(part.strip() for part in out.split("\n") if part.strip())


def _check_address(channel: str, address: str) -> None:
    """Refuse an address with a line break or control character: it could inject a header."""
    if any(ord(c) < 32 or ord(c) == 127 or c in _LINE_BREAKS for c in address):
        raise DeliveryError(
            f"channel '{channel}': address {address!r} contains a line break or control character",
            retryable=False,
        )


def _domain(address: str) -> str:
    """The sender's domain for Message-IDs, ASCII (IDNA) so the header needs no encoding."""
    domain = address.rpartition("@")[2] or "stagecast.invalid"
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return "stagecast.invalid"


def _describe(value: SecretRef | str) -> str:
    """A reference by its name; a literal username as written (it is not a secret)."""
    return str(value) if isinstance(value, SecretRef) else f"username '{value}'"


def _reply_text(err: smtplib.SMTPResponseException) -> str:
    """`(535 5.7.8 Authentication failed)` from the code and the server's words."""
    words = err.smtp_error
    text = words.decode("utf-8", "replace") if isinstance(words, bytes) else str(words)
    return f"({err.smtp_code} {one_line(text)})"


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    """`a@x (550), b@y (451)`: who was refused and with which code."""
    return ", ".join(f"{address} ({code})" for address, (code, _) in refused.items())


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye politely; the mail is already accepted, so a failed QUIT changes nothing."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
