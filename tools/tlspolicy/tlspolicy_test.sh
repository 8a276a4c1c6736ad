#!/bin/bash
# End-to-end checks of the tlspolicy binary on testdata/.
set -u
tool="$1"
data="$(dirname "$0")/testdata"
failures=0

expect() {  # expect STATUS PATTERN -- command...
  local want="$1" pattern="$2"
  shift 3
  local out status
  out="$("$@" 2>&1)"
  status=$?
  if [[ "$status" != "$want" ]] || ! grep -qF -- "$pattern" <<<"$out"; then
    echo "FAIL: $* (status $status, want $want, pattern '$pattern')"
    echo "$out"
    failures=$((failures + 1))
  fi
}

expect 0 "0 error(s), 0 warning(s)" -- "$tool" lint "$data/table.txt"
expect 1 "line 1: error: unknown attribute 'protocls'" -- "$tool" lint "$data/bad_table.txt"
expect 1 "line 2: error: unknown security level 'sekure'" -- "$tool" lint "$data/bad_table.txt"
expect 1 "line 3: warning: min-protocol=TLSv1 allows" -- "$tool" lint "$data/bad_table.txt"
expect 2 "cannot read" -- "$tool" lint "$data/missing"
expect 0 "example.com secure forward-secrecy=no match=.example.com" -- "$tool" import-postfix "$data/postfix_policy"
expect 0 "[mx.partner.example]:25 fingerprint" -- "$tool" import-postfix "$data/postfix_policy"
expect 0 "# smtp_tls_security_level = none (Postfix's default" -- "$tool" import-postfix "$data/postfix_policy"
expect 0 "* may min-protocol=TLSv1 forward-secrecy=no" -- "$tool" import-postfix \
  --default-level=may "$data/postfix_policy"
# An MD5 fingerprint under the default digest fails loudly, with its line;
# with main.cf's digest it imports.
expect 1 "line 2: error: fingerprint" -- "$tool" import-postfix "$data/postfix_md5"
expect 1 "not converted" -- "$tool" import-postfix "$data/postfix_md5"
expect 0 "cert-pin=3d953451246633b9d24099c0c1170bd1" -- "$tool" import-postfix \
  --fingerprint-digest=md5 "$data/postfix_md5"
expect 2 "unknown level 'sometimes'" -- "$tool" import-postfix --default-level=sometimes \
  "$data/postfix_policy"
expect 1 "use import-postfix" -- "$tool" lint "$data/postfix_policy"
expect 1 "tlspolicy import-postfix" -- "$tool" explain --table="$data/postfix_policy" \
  --domain=example.com
expect 2 "expected an RFC 3339 time such as 2026-03-02T08:00:00Z" -- "$tool" explain \
  --table="$data/table.txt" --domain=example.com --now=yesterday
# A next-hop key matches mail routed through that next-hop only.
expect 0 "entry: [relay.example.com]:587 verify" -- "$tool" explain --table="$data/table.txt" \
  --nexthop="[relay.example.com]:587" --facts="$data/facts_good.json" --mx=mx1.example.com \
  --now=2024-07-01T00:00:00Z
expect 1 "missing required fields: cipher_suite" -- "$tool" explain --table="$data/table.txt" \
  --domain=example.com --facts=<(echo '{"version": "TLSv1.2", "forward_secret": true}')
expect 0 "connection: proceed-tls" -- "$tool" explain --table="$data/table.txt" \
  --domain=example.com --mx=mx1.example.com --facts="$data/facts_good.json" \
  --now=2024-07-01T00:00:00Z
expect 0 "label: secure:verified" -- "$tool" explain --table="$data/table.txt" \
  --domain=example.com --mx=mx1.example.com --facts="$data/facts_good.json" \
  --now=2024-07-01T00:00:00Z
expect 1 "tls-rpt result: starttls-not-supported" -- "$tool" explain \
  --table="$data/table.txt" --domain=example.com --mx=mx1.example.com
expect 0 "label: sts:verified" -- "$tool" explain --table="$data/table.txt" \
  --domain=other.example --mx=mx1.example.com --facts="$data/facts_good.json" \
  --sts="$data/sts_policy.txt" --now=2024-07-01T00:00:00Z
expect 1 "matches no MTA-STS mx pattern" -- "$tool" explain --table="$data/table.txt" \
  --domain=other.example --mx=rogue.example.org --sts="$data/sts_policy.txt"
expect 0 "label: dane:verified" -- "$tool" explain --table="$data/table.txt" \
  --domain=other.example --mx=mx1.example.com --facts="$data/facts_good.json" \
  --tlsa="3 1 0 3059301306072a8648ce3d020106082a8648ce3d03010703420004"
expect 1 "dnssec-invalid" -- "$tool" explain --table="$data/table.txt" \
  --domain=other.example --mx=mx1.example.com --dnssec=bogus
expect 1 "REQUIRETLS: 5.7.10" -- "$tool" explain --table="$data/table.txt" \
  --domain=other.example --mx=mx1.example.com --requiretls
expect 2 "--table and --domain (or --nexthop) are required" -- "$tool" explain --domain=x.example
expect 1 "facts: versoin: unknown field" -- "$tool" explain --table="$data/table.txt" \
  --domain=example.com --facts=<(echo '{"versoin": 1}')
expect 2 "unknown command" -- "$tool" frobnicate
expect 1 "max_age 9999999999 clamped to 31557600" -- "$tool" explain \
  --table="$data/table.txt" --domain=other.example --mx=mx1.example.com \
  --sts=<(printf 'version: STSv1\nmode: enforce\nmx: mx1.example.com\nmax_age: 9999999999\n')
expect 0 "tlspolicy explain --table FILE" -- "$tool" --help

if [[ $failures -gt 0 ]]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
