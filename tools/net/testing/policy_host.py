"""An MTA-STS policy host for tests: HTTPS on a loopback port the kernel picks.

Usage: /usr/bin/python3 policy_host.py CONFIG.json

CONFIG: {"cert": PEM, "key": PEM, "sni": {host: [PEM, KEY]}, "responses": FILE}.
A TLS client naming a host listed in "sni" gets that certificate, every other
one the default. RESPONSES (re-read on every request, so a test can change
what is served): {"mta-sts.<domain>": {"status": 200, "content_type": "...",
"body": "...", "padding": N, "location": "..."}}; "padding" appends N bytes.
Anything else, or another path than /.well-known/mta-sts.txt, is a 404.
Prints the port on the first line of standard output once it listens.
"""

import http.server
import json
import ssl
import sys


def tls_context(cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        config = json.load(f)
    default_context = tls_context(config["cert"], config["key"])
    by_name = {name: tls_context(cert, key)
               for name, (cert, key) in config["sni"].items()}

    def choose_certificate(connection, server_name, _context):
        if server_name in by_name:
            connection.context = by_name[server_name]

    default_context.sni_callback = choose_certificate
    responses_file = config["responses"]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            with open(responses_file, encoding="utf-8") as f:
                responses = json.load(f)
            host = (self.headers.get("Host") or "").split(":")[0].lower()
            response = None
            if self.path == "/.well-known/mta-sts.txt":
                response = responses.get(host)
            if response is None:
                response = {"status": 404, "content_type": "text/plain",
                            "body": "not found\n"}
            body = (response.get("body", "").encode("utf-8") +
                    b"x" * response.get("padding", 0))
            self.send_response(response["status"])
            if response.get("content_type"):
                self.send_header("Content-Type", response["content_type"])
            if response.get("location"):
                self.send_header("Location", response["location"])
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading (a size limit): expected

        def log_message(self, format, *args):  # pylint: disable=redefined-builtin
            sys.stderr.write("policy host: " + (format % args) + "\n")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    # Handshakes happen in accept(); one a client aborts (an untrusted
    # certificate) raises ssl.SSLError, an OSError socketserver ignores.
    server.socket = default_context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
