#!/usr/bin/env bash
# Exercises the C sink (sink.c) with a real SMTP client: Python's smtplib
# (Debian's /usr/bin/python3) sends two messages over loopback, one recipient
# refused, one body line dot-stuffed; the sink must print both envelopes and
# bodies and exit by itself after the second message.
#
#   sink_test.sh SINK_BINARY      (Bazel passes its own build; .ci/run the
#                                  one compiled with gcc and pkg-config)
set -euo pipefail
sink=${1:?usage: sink_test.sh SINK_BINARY}
python=/usr/bin/python3
if [[ ! -x $python ]]; then
  echo "SKIP: $python is missing (the Debian python3 package)"
  exit 0
fi
dir=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/c-sink.XXXXXX")
pid=
cleanup() {
  if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
  rm -rf "$dir"
}
trap cleanup EXIT

"$sink" --port-file "$dir/port" --messages 2 --reject nowhere.example >"$dir/out" 2>"$dir/err" &
pid=$!
for _ in $(seq 100); do
  [[ -s $dir/port ]] && break
  sleep 0.1
done
[[ -s $dir/port ]] || { echo "FAIL: the sink wrote no port"; cat "$dir/err"; exit 1; }
port=$(cat "$dir/port")

timeout 60 "$python" - "$port" <<'PY'
import smtplib, sys
port = int(sys.argv[1])
body = "Subject: one\r\n\r\nfirst line\r\n.dotted line\r\n"
with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
    code, caps = smtp.ehlo("client.example")
    assert code == 250 and b"PIPELINING" in caps, (code, caps)
    refused = smtp.sendmail("alice@a.example", ["bob@b.example", "nobody@nowhere.example"], body)
    assert refused == {"nobody@nowhere.example": (550, b"5.1.1 No such user here")}, refused
with smtplib.SMTP("127.0.0.1", port, timeout=20) as smtp:
    smtp.helo("client.example")
    smtp.sendmail("", ["carol@c.example"], "Subject: two\r\n\r\nsecond\r\n")
print("smtplib: 2 messages sent")
PY

# The sink exits after its second message.
for _ in $(seq 100); do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  echo "FAIL: the sink did not exit after two messages"
  exit 1
fi
wait "$pid"
pid=

for want in "HELO client.example" "MAIL FROM:<alice@a.example>" "RCPT TO:<bob@b.example>" \
  ".dotted line" "MAIL FROM:<>" "RCPT TO:<carol@c.example>" "second"; do
  grep -qF -- "$want" "$dir/out" || { echo "FAIL: sink output lacks '$want'"; cat "$dir/out"; exit 1; }
done
if grep -q "nobody@nowhere.example" "$dir/out"; then
  echo "FAIL: a refused recipient was printed"
  exit 1
fi
[[ $(grep -c '^END ' "$dir/out") -eq 2 ]] || { echo "FAIL: not two messages"; cat "$dir/out"; exit 1; }
echo "c-sink: ok"
