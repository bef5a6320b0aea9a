"""Real local receivers for the delivery channels, for tests and the benchmark.

`SmtpReceiver`: an aiosmtpd SMTP server (plain, STARTTLS or implicit TLS, optional login)
that records every message and can be told to refuse the next ones (451 temporary, 550
permanent). `HttpReceiver`: an HTTP server that records every request (path, query, headers,
body) and answers as told (a status, a platform's JSON error code, a delay). Both run in a
thread on a free port of 127.0.0.1, so they serve async tests and synchronous scripts alike:

    with SmtpReceiver() as smtp, HttpReceiver(default=Reply(json=WECOM_OK)) as http:
        ...  # smtp.host / smtp.port, http.url_for("/cgi-bin/webhook/send?key=k")
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import email
import email.policy
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from notification.domain.policy import EmailSettings
from tests.polling import wait_for

Security = Literal["none", "starttls", "tls"]

# The answers each platform gives for a delivered message.
WECOM_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
DINGTALK_OK: dict[str, Any] = {"errcode": 0, "errmsg": "ok"}
FEISHU_OK: dict[str, Any] = {"code": 0, "msg": "success", "data": {}}


# --- TLS -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # PEM; also the CA bundle a client trusts it with (self-signed)
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def self_signed(directory: Path, hostname: str = "localhost") -> TlsFiles:
    """A fresh self-signed certificate for `hostname` and 127.0.0.1, valid for a day."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(hostname), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(directory / "smtp-cert.pem", directory / "smtp-key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


# --- SMTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # the message as it arrived
    tls: bool  # over TLS (STARTTLS or implicit)
    login: str | None  # the user it authenticated as

    def message(self) -> EmailMessage:
        """The message parsed (headers decoded: a Chinese subject reads as Chinese)."""
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass(frozen=True)
class _Refusal:
    code: int
    text: str
    at: Literal["rcpt", "data"]


def _drop_login_data_warning(record: logging.LogRecord) -> bool:
    """aiosmtpd warns of its own use of a deprecated attribute on every login: noise."""
    return "login_data is deprecated" not in record.getMessage()


logging.getLogger("mail.log").addFilter(_drop_login_data_warning)

_VERDICT = "_cqm_verdict"  # the refusal (or None) decided for the envelope's message


class _Handler:
    def __init__(self, receiver: SmtpReceiver) -> None:
        self._receiver = receiver

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not hasattr(envelope, _VERDICT):
            setattr(envelope, _VERDICT, self._receiver._next_verdict())
        refusal: _Refusal | None = getattr(envelope, _VERDICT)
        if refusal is not None and refusal.at == "rcpt":
            return f"{refusal.code} {refusal.text}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        refusal: _Refusal | None = getattr(envelope, _VERDICT, None)
        if refusal is not None:
            return f"{refusal.code} {refusal.text}"
        data = envelope.original_content or b""
        login = session.auth_data if session.authenticated and isinstance(session.auth_data, str) else None
        tls = session.ssl is not None or self._receiver.security == "tls"  # implicit TLS: every session
        self._receiver._record(ReceivedMail(envelope.mail_from or "", tuple(envelope.rcpt_tos), data, tls, login))
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller on port 0: learns the port the system chose before its self-test."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class SmtpReceiver:
    def __init__(
        self,
        *,
        security: Security = "none",
        tls: TlsFiles | None = None,
        users: Mapping[str, str] | None = None,
        hostname: str = "127.0.0.1",
    ) -> None:
        """`tls`: the certificate for starttls/tls; `users`: logins accepted (login -> password)."""
        if security != "none" and tls is None:
            raise ValueError("STARTTLS and TLS need a certificate (tls=self_signed(dir))")
        self.security: Security = security
        self.host = hostname
        self._users = dict(users or {})
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._verdicts: collections.deque[_Refusal | None] = collections.deque()
        kwargs: dict[str, Any] = {"server_hostname": "localhost", "auth_require_tls": False}
        if users is not None:
            kwargs["authenticator"] = self._authenticate
        if security == "starttls" and tls is not None:
            kwargs.update(tls_context=tls.server_context(), require_starttls=True)
        if security == "tls" and tls is not None:
            kwargs["ssl_context"] = tls.server_context()
        self._controller = _Controller(_Handler(self), hostname=hostname, port=0, **kwargs)

    @property
    def port(self) -> int:
        port: int = self._controller.port
        return port

    def email_settings(self, **overrides: Any) -> EmailSettings:
        """Settings of a relay pointing here (security as served; certificates not checked)."""
        values: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "sender": "cqm@factory.example",
            "timeout": 10.0,
            "validate_certs": False,
        }
        values.update(overrides)
        return EmailSettings(**values)

    # -- what it received and how it answers

    @property
    def messages(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._messages)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._verdicts.clear()

    def refuse(
        self,
        code: int = 451,
        count: int = 1,
        *,
        after: int = 0,
        at: Literal["rcpt", "data"] = "rcpt",
        text: str | None = None,
    ) -> None:
        """Accept the next `after` messages, then refuse `count` with `code` (451: try again
        later, 550: mailbox unavailable), at RCPT (the recipient) or after DATA (the message)."""
        text = text or ("4.7.1 Greylisted, try again later" if code < 500 else "5.1.1 Mailbox unavailable")
        with self._lock:
            self._verdicts.extend([None] * after)
            self._verdicts.extend([_Refusal(code, text, at)] * count)

    async def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[ReceivedMail]:
        async def arrived() -> list[ReceivedMail]:
            messages = self.messages
            return messages if len(messages) >= count else []

        return await wait_for(arrived, timeout=timeout, what=f"{count} e-mails")

    def _next_verdict(self) -> _Refusal | None:
        with self._lock:
            return self._verdicts.popleft() if self._verdicts else None

    def _record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self._messages.append(mail)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login, password = auth_data.login.decode(), auth_data.password.decode()
            if self._users.get(login) == password:
                return AuthResult(success=True, auth_data=login)
        return AuthResult(success=False, handled=False)

    # -- lifecycle

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    raw_query: str
    query: dict[str, str]  # the first value of each parameter, decoded
    headers: dict[str, str]  # names in lower case
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    json: Any = None  # sent as the JSON body when not None
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow platform: the sender's timeout)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("content-type", "application/json; charset=utf-8")
            return json.dumps(self.json, ensure_ascii=False).encode(), headers
        return self.body, headers


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real platforms
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body leave in two writes: without this, Nagle + delayed ACK add ~40 ms each
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
        headers = {name.lower(): value for name, value in self.headers.items()}
        receiver = self.server.receiver
        reply = receiver._take(ReceivedRequest(self.command, parts.path, parts.query, query, headers, body))
        if reply.delay:
            receiver._stopping.wait(reply.delay)  # the server side of a timeout; ends at stop()
        content, reply_headers = reply.encoded()
        try:
            self.send_response(reply.status)
            for name, value in reply_headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)
        except OSError:
            self.close_connection = True  # the client gave up (timed out) meanwhile

    do_POST = _serve
    do_GET = _serve
    do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read `requests`."""


class HttpReceiver:
    def __init__(self, default: Reply | None = None, *, host: str = "127.0.0.1") -> None:
        """`default`: the answer when nothing is queued (200 with an empty body if not given)."""
        self.default = default or Reply()
        self._lock = threading.Lock()
        self._requests: list[ReceivedRequest] = []
        self._replies: list[tuple[str | None, Reply]] = []  # (only for this path, answer), in order
        self._stopping = threading.Event()
        self._server = _Server((host, 0), _RequestHandler)
        self._server.receiver = self
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def url_for(self, path_and_query: str) -> str:
        return self.url + path_and_query

    # -- what it received and how it answers

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._replies.clear()

    def respond(
        self,
        reply: Reply | int = 200,
        *,
        json: Any = None,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        count: int = 1,
        path: str | None = None,
    ) -> None:
        """Answer the next `count` requests (to `path` only, when given; after the answers
        already queued) with `reply`, or with a reply of this status, JSON, body, headers and delay."""
        if isinstance(reply, int):
            reply = Reply(reply, json, body, dict(headers or {}), delay)
        elif json is not None or body or headers or delay:
            raise TypeError("give a Reply or its parts, not both")
        with self._lock:
            self._replies.extend([(path, reply)] * count)

    async def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[ReceivedRequest]:
        async def arrived() -> list[ReceivedRequest]:
            requests = self.requests
            return requests if len(requests) >= count else []

        return await wait_for(arrived, timeout=timeout, what=f"{count} HTTP requests")

    def _take(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            for index, (path, reply) in enumerate(self._replies):
                if path is None or path == request.path:
                    del self._replies[index]
                    return reply
            return self.default

    # -- lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="http-receiver", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
