// Drives the C API (core/capi/starling.h) with the fuzzer's bytes: a server
// session, a client session or the policy engine, through C calls only, in
// any order, with any arguments a C caller could pass (NULLs, bad enums, bad
// DER, odd reply codes). Invariants: no crash or sanitizer report; every
// status is a canonical code and a failure leaves a message; an ABORTED
// session stays aborted (only argument errors come before it); events have
// known types; output views are never
// NULL; every decision's strings are set.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "core/capi/starling.h"
#include "fuzz/fuzz_input.h"

namespace {

using starling::fuzz::FuzzInput;
using starling::fuzz::Require;

constexpr starling_time kStart = starling_time{1798761600} * 1000000000;

// Stores any int in an enum field, as a C caller can (a C++ cast to an
// enum outside its range would itself be undefined).
template <typename E>
void SetEnum(E* field, int value) {
  static_assert(sizeof(E) == sizeof(int));
  std::memcpy(field, &value, sizeof value);
}

void CheckStatus(starling_status status) {
  Require(status >= STARLING_OK && status <= STARLING_UNAUTHENTICATED);
  if (status != STARLING_OK) Require(starling_last_error()[0] != '\0');
}

const char* Text(FuzzInput& in, std::string* storage) {
  if (in.Below(8) == 0) return nullptr;
  *storage = std::string(in.Bytes(in.Below(40)));
  // C strings end at the first NUL; keep the rest out of the way.
  storage->resize(std::char_traits<char>::length(storage->c_str()));
  return storage->c_str();
}

// Facts as a C caller might fill them, certificates from fuzzer bytes.
struct Facts {
  starling_tls_facts facts;
  std::vector<std::string> der;
  std::vector<starling_bytes> chain;
  std::string cipher;
};

void FillFacts(FuzzInput& in, Facts* f) {
  starling_tls_facts_init(&f->facts);
  SetEnum(&f->facts.version, static_cast<int>(in.Below(7)));
  f->facts.cipher_suite = Text(in, &f->cipher);
  f->facts.forward_secret = in.Bool();
  SetEnum(&f->facts.chain_verdict, static_cast<int>(in.Below(13)));
  const size_t n = in.Below(3);
  for (size_t i = 0; i < n; ++i) f->der.emplace_back(in.Bytes(in.Below(64)));
  for (const std::string& d : f->der) f->chain.push_back({d.data(), d.size()});
  f->facts.peer_chain_der = f->chain.empty() ? nullptr : f->chain.data();
  f->facts.peer_chain_count = f->chain.size();
}

void CheckBytes(starling_bytes b) { Require(b.data != nullptr); }

void RunServer(FuzzInput& in) {
  starling_server_options options;
  starling_server_options_init(&options);
  options.offer_starttls = in.Bool();
  options.require_tls = in.Bool();
  options.auth_mechanisms = in.Bool() ? "PLAIN LOGIN X-TEST" : nullptr;
  options.auth_in_plaintext = in.Bool();
  options.normalize_bare_line_endings = in.Bool();
  options.discard_after_starttls = in.Bool();
  options.max_recipients = in.Below(4);
  starling_server* s = nullptr;
  CheckStatus(starling_server_new(&options, &s));
  Require(s != nullptr);
  starling_time now = kStart;
  bool aborted = false;
  std::string enhanced, text;
  for (int step = 0; step < 64 && !in.empty(); ++step) {
    starling_status status = STARLING_OK;
    bool fallible = true;
    const int code = 200 + static_cast<int>(in.Below(400));
    switch (in.Below(14)) {
      case 0: status = starling_server_accept_connection(s, now); break;
      case 1: {
        const absl::string_view bytes = in.Bytes(in.Below(200));
        status = starling_server_receive(s, bytes.data(), bytes.size(), now);
        break;
      }
      case 2: status = starling_server_accept(s, now); break;
      case 3:
        status = starling_server_accept_with(s, code, Text(in, &enhanced),
                                             Text(in, &text), now);
        break;
      case 4:
        status = starling_server_reject(s, code, Text(in, &enhanced),
                                        Text(in, &text), now);
        break;
      case 5: {
        const absl::string_view bytes = in.Bytes(in.Below(20));
        status = starling_server_auth_challenge(s, bytes.data(), bytes.size(), now);
        break;
      }
      case 6: {
        Facts f;
        FillFacts(in, &f);
        status = starling_server_tls_established(s, in.Below(8) ? &f.facts : nullptr, now);
        break;
      }
      case 7: status = starling_server_tls_failed(s, Text(in, &text), now); break;
      case 8: status = starling_server_on_timeout(s, starling_server_next_deadline(s)); break;
      case 9: starling_server_connection_lost(s, now); fallible = false; break;
      case 10: starling_server_shutdown(s, now); fallible = false; break;
      case 11:
        starling_server_consume_output(s, in.Below(300));
        fallible = false;
        break;
      case 12:
        status = starling_server_refuse_connection(s, code, Text(in, &enhanced),
                                                   Text(in, &text), now);
        break;
      default:
        starling_server_set_tls_available(s, in.Bool());
        fallible = false;
        break;
    }
    if (fallible) {
      CheckStatus(status);
      // A fatal error is sticky (arguments are checked before the session
      // is asked).
      if (aborted) Require(status == STARLING_ABORTED || status == STARLING_INVALID_ARGUMENT);
      aborted = aborted || status == STARLING_ABORTED;
    }
    while (const starling_server_event* e = starling_server_next_event(s)) {
      Require(e->type >= STARLING_SERVER_HELO && e->type <= STARLING_SERVER_CLOSED);
      CheckBytes(e->domain);
      CheckBytes(e->mailbox);
      CheckBytes(e->data);
      CheckBytes(e->reason);
    }
    CheckBytes(starling_server_pending_output(s));
    Require(starling_server_helo_name(s) != nullptr);
    Require(starling_server_authenticated_user(s) != nullptr);
    Require(starling_server_fatal_reason(s) != nullptr);
    if (const starling_tls_info* tls = starling_server_tls(s)) {
      Require(tls->version_name != nullptr && tls->peer_subject_dn != nullptr);
    }
    now += static_cast<starling_time>(in.Below(1000)) * 1000000000;
  }
  starling_server_free(s);
}

void RunClient(FuzzInput& in, const starling_policy_table* table) {
  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = "b.example";
  d.mx_host = "mx.b.example";
  starling_client_options options;
  starling_client_options_init(&options);
  options.destination = &d;
  options.policy = in.Bool() ? table : nullptr;
  options.prefer_bdat = in.Bool();
  options.no_pipelining = in.Bool();
  std::string sender, recipient;
  starling_message m;
  starling_message_init(&m);
  m.sender = Text(in, &sender);
  const char* recipients[1] = {Text(in, &recipient)};
  m.recipients = recipients;
  m.recipient_count = recipients[0] != nullptr ? 1 : 0;
  const absl::string_view body = in.Bytes(in.Below(100));
  m.body = body.data();
  m.body_size = body.size();
  SetEnum(&m.body_type, static_cast<int>(in.Below(5)));
  m.requiretls = in.Bool();
  const starling_message* messages[1] = {&m};
  starling_client* c = nullptr;
  const starling_status created = starling_client_new(&options, messages, 1, kStart, &c);
  CheckStatus(created);
  if (created != STARLING_OK) {
    Require(c == nullptr);
    return;
  }
  starling_time now = kStart;
  bool aborted = false;
  std::string text;
  for (int step = 0; step < 64 && !in.empty(); ++step) {
    starling_status status = STARLING_OK;
    bool fallible = true;
    switch (in.Below(7)) {
      case 0: {
        const absl::string_view bytes = in.Bytes(in.Below(200));
        status = starling_client_receive(c, bytes.data(), bytes.size(), now);
        break;
      }
      case 1: {
        Facts f;
        FillFacts(in, &f);
        status = starling_client_tls_established(c, &f.facts, now);
        break;
      }
      case 2: status = starling_client_tls_failed(c, Text(in, &text), now); break;
      case 3: status = starling_client_on_timeout(c, starling_client_next_deadline(c)); break;
      case 4:
        starling_client_connection_lost(c, Text(in, &text), now);
        fallible = false;
        break;
      default:
        starling_client_consume_output(c, in.Below(300), now);
        fallible = false;
        break;
    }
    if (fallible) {
      CheckStatus(status);
      if (aborted) Require(status == STARLING_ABORTED || status == STARLING_INVALID_ARGUMENT);
      aborted = aborted || status == STARLING_ABORTED;
    }
    while (const starling_client_event* e = starling_client_next_event(c)) {
      Require(e->type >= STARLING_CLIENT_STARTTLS && e->type <= STARLING_CLIENT_CLOSED);
      CheckBytes(e->sni);
      CheckBytes(e->reason);
    }
    CheckBytes(starling_client_pending_output(c));
    const starling_message_result* r = starling_client_message_result(c, 0);
    Require(r != nullptr && r->policy_label != nullptr);
    for (size_t i = 0; i < r->recipient_count; ++i) {
      const starling_recipient_result* rr = starling_client_recipient_result(c, 0, i);
      Require(rr != nullptr && rr->stage != nullptr && rr->detail != nullptr);
    }
    Require(starling_client_recipient_result(c, 0, r->recipient_count) == nullptr);
    Require(starling_client_fatal_reason(c) != nullptr);
    starling_client_tls(c);
    now += static_cast<starling_time>(in.Below(1000)) * 1000000000;
  }
  starling_client_free(c);
}

void RunPolicy(FuzzInput& in, const starling_policy_table* table) {
  std::string domain, mx, tlsa_text, sts;
  starling_destination d;
  starling_destination_init(&d);
  d.next_hop_domain = Text(in, &domain);
  d.mx_host = Text(in, &mx);
  d.more_mx = in.Bool();
  SetEnum(&d.dnssec, static_cast<int>(in.Below(4)));
  const char* tlsa[1] = {Text(in, &tlsa_text)};
  d.tlsa = tlsa;
  d.tlsa_count = in.Below(2);
  d.sts_policy = in.Below(4) == 0 ? Text(in, &sts) : nullptr;
  Facts f;
  FillFacts(in, &f);
  starling_policy_query q;
  starling_policy_query_init(&q);
  q.destination = &d;
  q.tls = in.Bool() ? &f.facts : nullptr;
  SetEnum(&q.no_tls, static_cast<int>(in.Below(5)));
  q.requiretls = in.Bool();
  q.tls_required_no = in.Bool();
  q.server_requiretls = in.Bool();
  q.now = kStart;
  starling_policy_decision* decision = nullptr;
  const starling_status status = starling_policy_judge(table, &q, &decision);
  CheckStatus(status);
  Require((status == STARLING_OK) == (decision != nullptr));
  if (decision != nullptr) {
    Require(decision->label != nullptr && decision->explanation != nullptr &&
            decision->sni != nullptr && decision->tlsrpt_result_type != nullptr);
    for (size_t i = 0; i < decision->trace_count; ++i) {
      Require(decision->trace[i] != nullptr);
    }
    Require(starling_verdict_name(decision->message_verdict) != nullptr);
  }
  starling_policy_decision_free(decision);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzInput in(data, size);
  const int mode = in.Byte() % 3;
  // A table from the input's own text, or a fixed one when that fails.
  const absl::string_view table_text = in.Bytes(in.Below(120));
  starling_policy_table* table = nullptr;
  if (starling_policy_table_parse(table_text.data(), table_text.size(), &table) !=
      STARLING_OK) {
    Require(table == nullptr);
    static const char kFallback[] = "* may\nb.example encrypt\n";
    Require(starling_policy_table_parse(kFallback, sizeof kFallback - 1, &table) ==
            STARLING_OK);
  }
  switch (mode) {
    case 0: RunServer(in); break;
    case 1: RunClient(in, table); break;
    default: RunPolicy(in, table); break;
  }
  starling_policy_table_free(table);
  return 0;
}
