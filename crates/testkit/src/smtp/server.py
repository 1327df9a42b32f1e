"""A real SMTP server for tests (aiosmtpd) on 127.0.0.1.

usage: server.py PORT DIR USER PASSWORD MODE [CERT KEY]
MODE: plain (AUTH without TLS), starttls (STARTTLS required before AUTH)
or tls (implicit TLS). Each accepted message is unpacked into DIR/NNNN/:
message.json (from, to, subject, body) and attachments/<filename>, written
under a temporary name first so a reader never sees half a message.
Prints READY once it accepts connections.
"""

import json
import os
import ssl
import sys
import time
from email import message_from_bytes, policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, folder, user, password, mode = sys.argv[1:6]
count = 0


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == user
        and auth_data.password.decode() == password
    )
    return AuthResult(success=ok, handled=False)


class Unpack:
    async def handle_DATA(self, server, session, envelope):
        global count
        count += 1
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        tmp = os.path.join(folder, f".{count:04}")
        os.makedirs(os.path.join(tmp, "attachments"))
        body = msg.get_body(preferencelist=("plain",))
        with open(os.path.join(tmp, "message.json"), "w") as f:
            json.dump(
                {
                    "mail_from": envelope.mail_from,
                    "rcpt_tos": envelope.rcpt_tos,
                    "subject": str(msg["subject"]),
                    "body": body.get_content() if body else "",
                },
                f,
            )
        for part in msg.iter_attachments():
            with open(os.path.join(tmp, "attachments", part.get_filename()), "wb") as f:
                f.write(part.get_payload(decode=True))
        os.rename(tmp, os.path.join(folder, f"{count:04}"))
        return "250 Message accepted for delivery"


kwargs = dict(
    hostname="127.0.0.1",
    port=int(port),
    authenticator=authenticate,
    auth_required=True,
    # aiosmtpd only counts STARTTLS as TLS; implicit TLS is TLS throughout.
    auth_require_tls=(mode == "starttls"),
    data_size_limit=200 * 1024 * 1024,
)
if mode in ("starttls", "tls"):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(sys.argv[6], sys.argv[7])
    if mode == "starttls":
        kwargs.update(tls_context=context, require_starttls=True)
    else:
        kwargs.update(ssl_context=context)
controller = Controller(Unpack(), **kwargs)
controller.start()
print("READY", flush=True)
while True:
    time.sleep(3600)
