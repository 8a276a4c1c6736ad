"""aiosmtpd for the interoperability suite: STARTTLS, AUTH, SMTPUTF8, SIZE,
and PIPELINING when asked to advertise it.

Listens on 127.0.0.1:PORT and prints one JSON line per message it accepts
(envelope, ESMTP parameters, whether the session was TLS and authenticated,
the content's size, SHA-256 and whether it holds 8-bit octets), so a test can
check what arrived. Run with Debian's /usr/bin/python3 (python3-aiosmtpd).
"""

import argparse
import asyncio
import hashlib
import json
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, pipelining):
        self.pipelining = pipelining

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # aiosmtpd reads one command at a time, so pipelined input simply
        # waits in its reader; --pipelining advertises it (RFC 2920).
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server, session, envelope, address, options):
        # PIPELINING (RFC 2920): when MAIL is answered, the client's next
        # commands (RCPT, DATA) are already waiting in the input buffer.
        # aiosmtpd reads one line at a time, so they sit in its reader.
        buffered = getattr(server._reader, "_buffer", b"")
        session.pipelined_after_mail = len(buffered) > 0
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or b""
        subject = ""
        for line in content.split(b"\r\n"):
            if line == b"":
                break
            if line.lower().startswith(b"subject:"):
                subject = line[8:].strip().decode("utf-8", "replace")
        print(json.dumps({
            "subject": subject,
            "mail_from": envelope.mail_from,
            "mail_options": envelope.mail_options,
            "rcpt_tos": envelope.rcpt_tos,
            "rcpt_options": envelope.rcpt_options,
            "smtp_utf8": envelope.smtp_utf8,
            "tls": session.ssl is not None,
            "auth": session.authenticated,
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "eight_bit": any(b > 127 for b in content),
            "peer": session.peer[0],
            "peer_port": session.peer[1],
            "pipelined_after_mail": getattr(session, "pipelined_after_mail", None),
        }), flush=True)
        return "250 2.0.0 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth", help="USER:PASS")
    parser.add_argument("--max-size", type=int, default=33554432)
    parser.add_argument("--pipelining", action="store_true",
                        help="advertise PIPELINING")
    args = parser.parse_args()

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    def authenticator(server, session, envelope, mechanism, data):
        if not args.auth or not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, _, password = args.auth.partition(":")
        ok = data.login == user.encode() and data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    def factory():
        return SMTP(Handler(args.pipelining), hostname="aiosmtpd.interop.test",
                    data_size_limit=args.max_size, enable_SMTPUTF8=True,
                    tls_context=context, auth_require_tls=True,
                    authenticator=authenticator if args.auth else None)

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(factory, host="127.0.0.1", port=args.port))
    print(json.dumps({"listening": args.port}), flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
