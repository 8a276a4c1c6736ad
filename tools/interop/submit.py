"""Python's smtplib as an SMTP client for the interoperability suite.

Delivers one or more messages over one connection to 127.0.0.1:PORT and
prints one JSON object: the EHLO capabilities (before and after STARTTLS),
the TLS version, and per message what smtplib reported. Exit status 0 when
every message was accepted, 1 otherwise (the JSON still says why).

  submit.py --port N [--starttls] [--auth USER:PASS] [--from A] [--to B]...
            [--subject S] [--body TEXT] [--count K]
            [--mail-option O]... [--rcpt-option O]...
            [--utf8-message]   # email.message.EmailMessage via send_message():
                               # smtplib adds SMTPUTF8 and BODY=8BITMIME itself
            [--eight-bit]      # an 8-bit body declared BODY=8BITMIME
"""

import argparse
import json
import smtplib
import ssl
import sys
from email.message import EmailMessage


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--helo", default="client.interop.test")
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--auth")
    parser.add_argument("--from", dest="sender", default="sender@client.interop.test")
    parser.add_argument("--to", action="append", default=[])
    parser.add_argument("--subject", default="interop")
    parser.add_argument("--body", default="A message from smtplib.\r\n")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--mail-option", action="append", default=[])
    parser.add_argument("--rcpt-option", action="append", default=[])
    parser.add_argument("--utf8-message", action="store_true")
    parser.add_argument("--eight-bit", action="store_true")
    args = parser.parse_args()
    recipients = args.to or ["rcpt@example.org"]

    out = {"messages": []}
    ok = True
    with smtplib.SMTP("127.0.0.1", args.port, local_hostname=args.helo,
                      timeout=60) as client:
        client.ehlo()
        out["ehlo"] = sorted(client.esmtp_features)
        if args.starttls:
            code, _ = client.starttls(context=ssl._create_unverified_context())
            out["starttls"] = code
            client.ehlo()
            out["ehlo_tls"] = sorted(client.esmtp_features)
            out["tls"] = client.sock.version()
        if args.auth:
            user, _, password = args.auth.partition(":")
            code, reply = client.login(user, password)
            out["auth"] = code
        for n in range(args.count):
            subject = args.subject if args.count == 1 else f"{args.subject} {n + 1}"
            entry = {"subject": subject}
            try:
                if args.utf8_message:
                    message = EmailMessage()
                    message["From"] = args.sender
                    message["To"] = ", ".join(recipients)
                    message["Subject"] = subject + " \u00e5\u00e6\u00f8 \u2713"
                    message.set_content("Bl\u00e5b\u00e6rsyltet\u00f8y, \u2713\n",
                                        cte="8bit")
                    refused = client.send_message(message, args.sender, recipients)
                else:
                    body = args.body
                    if args.eight_bit:
                        body = "Bl\u00e5b\u00e6rsyltet\u00f8y in Latin-1: \u00e5\u00e6\u00f8\r\n"
                    text = (f"From: {args.sender}\r\nTo: {', '.join(recipients)}\r\n"
                            f"Subject: {subject}\r\n\r\n{body}")
                    data = text.encode("latin-1" if args.eight_bit else "utf-8")
                    refused = client.sendmail(args.sender, recipients, data,
                                              mail_options=args.mail_option,
                                              rcpt_options=args.rcpt_option)
                entry["refused"] = {k: [v[0], v[1].decode("utf-8", "replace")]
                                    for k, v in refused.items()}
                entry["accepted"] = not refused
                ok = ok and not refused
            except smtplib.SMTPException as error:
                entry["error"] = f"{type(error).__name__}: {error}"
                entry["accepted"] = False
                ok = False
            out["messages"].append(entry)
        client.quit()
    print(json.dumps(out))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
