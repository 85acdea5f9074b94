"""A real SMTP server for tests/email.rs, built on Debian's python3-aiosmtpd.

Run it with /usr/bin/python3 (the system python that has aiosmtpd). It listens on 127.0.0.1,
offers STARTTLS (required) or implicit TLS, accepts AUTH for one username/password (only over
TLS), writes every accepted message as JSON into the spool directory, and prints READY once it
accepts connections. It runs until killed or until its stdin closes.
"""

import argparse
import email
import email.policy
import json
import os
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Spool:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(msg["from"]),
            "to": str(msg["to"]),
            "subject": str(msg["subject"]),
            "content_type": msg.get_content_type(),
            # The plain-text part's charset (the message itself is multipart/alternative).
            "charset": part.get_content_charset() if part is not None else None,
            "transfer_encoding": str(msg.get("content-transfer-encoding", "")),
            # The body decoded from its transfer encoding, as a reader would see it.
            "body": part.get_content() if part is not None else "",
            # session.ssl is set by STARTTLS; an implicit-TLS transport carries an ssl_object.
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        self.count += 1
        name = os.path.join(self.directory, "msg-%04d.json" % self.count)
        # The raw message too, for tests that parse the MIME structure themselves.
        with open(name[: -len(".json")] + ".eml.tmp", "wb") as f:
            f.write(envelope.content)
        os.rename(name[: -len(".json")] + ".eml.tmp", name[: -len(".json")] + ".eml")
        # Written then renamed, so the test never reads half a message.
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.rename(name + ".tmp", name)
        return "250 OK queued"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--spool", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--mode", choices=["starttls", "implicit"], default="starttls")
    a = p.parse_args()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == a.user.encode()
            and auth_data.password == a.password.encode()
        )
        # handled=False on failure makes aiosmtpd answer "535 5.7.8 Authentication
        # credentials invalid" itself; a handled failure would leave the client waiting.
        return AuthResult(success=ok, handled=ok)

    common = dict(
        hostname="127.0.0.1",
        port=a.port,
        server_hostname="localhost",
        authenticator=authenticator,
        auth_required=True,
    )
    if a.mode == "starttls":
        controller = Controller(
            Spool(a.spool),
            tls_context=ctx,
            require_starttls=True,
            auth_require_tls=True,
            **common,
        )
    else:
        # The whole connection is TLS, so AUTH needs no STARTTLS.
        controller = Controller(
            Spool(a.spool), ssl_context=ctx, auth_require_tls=False, **common
        )
    controller.start()
    print("READY", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
