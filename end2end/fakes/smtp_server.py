#!/usr/bin/python3
"""A real SMTP server for the tests: Debian's python3-aiosmtpd with AUTH (PLAIN, LOGIN),
STARTTLS on a throwaway self-signed certificate, and replies a test can set per command.

    /usr/bin/python3 end2end/fakes/smtp_server.py [--starttls] [--auth USER:PASSWORD]
        [--cert-san ip:127.0.0.1|dns:NAME] [--port N] [--control-port M]

Prints one line once it listens on 127.0.0.1:
    SMTP_PORT=<n> CONTROL_PORT=<m> CERT=<path of the certificate (PEM)>

Control (HTTP on 127.0.0.1:CONTROL_PORT):
    GET  /messages   what arrived: [{"mail_from", "rcpt_tos", "data", "tls", "auth_user"}]
    GET  /stats      {"connections": n} (EHLOs on unencrypted sessions: one per connection)
    POST /control    {"replies": {"AUTH": "535 5.7.139 …", "MAIL": "…", "RCPT": "…", "DATA": "…"}}
                     replies sent instead of success (AUTH after a correct password too)
    POST /reset      forget messages and replies
"""

import argparse
import asyncio
import datetime
import json
import logging
import os
import ssl
import sys
import tempfile
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from OpenSSL import crypto

DATA_DELAY = 0.0
state = {"messages": [], "replies": {}, "connections": 0, "in_data": 0, "peak_data": 0}
lock = threading.Lock()


def reply_for(command):
    with lock:
        return state["replies"].get(command)


def make_certificate(directory, san):
    """A self-signed certificate valid for one day, for `san` only."""
    key = crypto.PKey()
    key.generate_key(crypto.TYPE_RSA, 2048)
    cert = crypto.X509()
    cert.set_version(2)
    cert.set_serial_number(int.from_bytes(os.urandom(8), "big"))
    kind, _, value = san.partition(":")
    cert.get_subject().CN = value
    cert.gmtime_adj_notBefore(-60)
    cert.gmtime_adj_notAfter(24 * 3600)
    cert.set_issuer(cert.get_subject())
    cert.set_pubkey(key)
    alt = ("IP:" if kind == "ip" else "DNS:") + value
    cert.add_extensions(
        [
            crypto.X509Extension(b"subjectAltName", False, alt.encode()),
            crypto.X509Extension(b"basicConstraints", True, b"CA:FALSE"),
            crypto.X509Extension(b"extendedKeyUsage", False, b"serverAuth"),
        ]
    )
    cert.sign(key, "sha256")
    cert_path = os.path.join(directory, "cert.pem")
    key_path = os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(crypto.dump_certificate(crypto.FILETYPE_PEM, cert))
    with open(key_path, "wb") as f:
        f.write(crypto.dump_privatekey(crypto.FILETYPE_PEM, key))
    return cert_path, key_path


class Handler:
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # Once per connection (the EHLO after STARTTLS is on an encrypted session).
        if session.ssl is None:
            with lock:
                state["connections"] += 1
        session.host_name = hostname
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = reply_for("MAIL")
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = reply_for("RCPT")
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = reply_for("DATA")
        if reply:
            return reply
        # How many messages are being received at once (the sender's concurrency).
        with lock:
            state["in_data"] += 1
            state["peak_data"] = max(state["peak_data"], state["in_data"])
        try:
            if DATA_DELAY:
                await asyncio.sleep(DATA_DELAY)
        finally:
            with lock:
                state["in_data"] -= 1
        with lock:
            state["messages"].append(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": list(envelope.rcpt_tos),
                    "data": envelope.content.decode("utf-8", "replace"),
                    "tls": session.ssl is not None,
                    "auth_user": getattr(session, "auth_data", None)
                    and session.auth_data.login.decode(),
                }
            )
        return "250 2.0.0 OK queued"


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        reply = reply_for("AUTH")
        if ok and reply:
            return AuthResult(success=False, handled=False, message=reply)
        if not ok:
            return AuthResult(
                success=False,
                handled=False,
                message="535 5.7.8 Username and Password not accepted",
            )
        return AuthResult(success=True, auth_data=auth_data)

    return check


class Control(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, value, status=200):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/messages":
            with lock:
                return self.answer(state["messages"])
        if self.path == "/stats":
            with lock:
                return self.answer(
                    {"connections": state["connections"], "peak_data": state["peak_data"]}
                )
        self.answer({"error": "not_found"}, 404)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with lock:
            if self.path == "/control":
                state["replies"] = body.get("replies", {})
            elif self.path == "/reset":
                state["messages"] = []
                state["replies"] = {}
                state["connections"] = 0
                state["peak_data"] = 0
            else:
                return self.answer({"error": "not_found"}, 404)
        self.answer({"ok": True})


def main():
    # aiosmtpd warns about AUTH without TLS (wanted here: the port-25 path) and its own
    # deprecations; the tests' output needs neither.
    warnings.filterwarnings("ignore")
    # Expected failures (a refused TLS handshake) are the tests' subject, not news.
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", action="store_true", help="offer and require STARTTLS")
    parser.add_argument("--auth", help="USER:PASSWORD; AUTH is then required")
    parser.add_argument("--cert-san", default="ip:127.0.0.1")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--data-delay-ms", type=int, default=0, help="a slow server")
    args = parser.parse_args()

    global DATA_DELAY
    DATA_DELAY = args.data_delay_ms / 1000
    directory = tempfile.mkdtemp(prefix="smtp-fake-")
    cert_path, key_path = make_certificate(directory, args.cert_san)
    kwargs = {"hostname": "mx.test.invalid", "ident": "fake ESMTP"}
    if args.starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_path, key_path)
        kwargs.update(tls_context=context, require_starttls=True)
    if args.auth:
        user, _, password = args.auth.partition(":")
        kwargs.update(
            authenticator=authenticator(user, password),
            auth_required=True,
            auth_require_tls=args.starttls,
        )

    # Port 0: let the OS choose, then read the port back.
    import socket

    probe = socket.socket()
    probe.bind(("127.0.0.1", args.port))
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, server_kwargs=kwargs)
    controller.start()

    control = ThreadingHTTPServer(("127.0.0.1", args.control_port), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    print(
        f"SMTP_PORT={port} CONTROL_PORT={control.server_address[1]} CERT={cert_path}",
        flush=True,
    )
    import shutil
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        threading.Event().wait()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        controller.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
