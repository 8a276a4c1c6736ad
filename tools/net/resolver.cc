#include "tools/net/resolver.h"

#include <poll.h>
#include <unbound.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tools/net/internal/rdata.h"

namespace starling::net {
namespace {

constexpr int kClassIn = 1;
constexpr int kTypeA = 1;
constexpr int kTypeMx = 15;
constexpr int kTypeTxt = 16;
constexpr int kTypeAaaa = 28;
constexpr int kTypeTlsa = 52;

constexpr int kRcodeNoError = 0;
constexpr int kRcodeNxDomain = 3;

absl::string_view RcodeName(int rcode) {
  switch (rcode) {
    case 1: return "FORMERR";
    case 2: return "SERVFAIL";
    case 4: return "NOTIMP";
    case 5: return "REFUSED";
  }
  return "unexpected rcode";
}

// Query names may carry the underscore labels of _25._tcp, _mta-sts and
// _smtp._tls, so this is looser than a host name check: labels of 1..63
// letters, digits, '-' or '_', 253 octets in all, one trailing dot allowed.
absl::StatusOr<std::string> QueryName(absl::string_view name) {
  std::string canonical = absl::AsciiStrToLower(name);
  if (!canonical.empty() && canonical.back() == '.') canonical.pop_back();
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", name, "' is not a DNS name: ", why));
  };
  if (canonical.empty()) return bad("empty");
  if (canonical.size() > 253) return bad("longer than 253 octets");
  for (absl::string_view label : absl::StrSplit(canonical, '.')) {
    if (label.empty()) return bad("empty label");
    if (label.size() > 63) return bad("label longer than 63 octets");
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          c != '_') {
        return bad(absl::StrCat("character '", absl::CEscape(std::string(1, c)),
                                "'"));
      }
    }
  }
  return canonical;
}

absl::Status UnboundError(absl::string_view what, int code) {
  return absl::InternalError(
      absl::StrCat("libunbound: ", what, ": ", ub_strerror(code)));
}

// One query's raw result, before its RDATA is decoded.
struct RawAnswer {
  DnsOutcome outcome = DnsOutcome::kServFail;
  policy::DnssecStatus dnssec = policy::DnssecStatus::kInsecure;
  std::vector<std::string> rdata;
  std::string canonical_name;
  std::string detail;
};

RawAnswer FromResult(const ub_result& result) {
  RawAnswer raw;
  if (result.secure) raw.dnssec = policy::DnssecStatus::kSecure;
  if (result.bogus) {
    raw.dnssec = policy::DnssecStatus::kBogus;
    raw.detail = result.why_bogus != nullptr ? result.why_bogus
                                             : "DNSSEC validation failed";
  }
  if (result.canonname != nullptr) {
    raw.canonical_name = absl::AsciiStrToLower(result.canonname);
    if (!raw.canonical_name.empty() && raw.canonical_name.back() == '.') {
      raw.canonical_name.pop_back();
    }
  }
  if (result.rcode == kRcodeNxDomain) {
    raw.outcome = DnsOutcome::kNxDomain;
  } else if (result.rcode != kRcodeNoError) {
    raw.outcome = DnsOutcome::kServFail;
    if (raw.detail.empty()) {
      raw.detail = absl::StrCat(RcodeName(result.rcode), " (rcode ",
                                result.rcode, ")");
    }
  } else if (result.havedata) {
    raw.outcome = DnsOutcome::kAnswer;
    for (int i = 0; result.data[i] != nullptr; ++i) {
      raw.rdata.emplace_back(result.data[i], result.len[i]);
    }
  } else {
    raw.outcome = DnsOutcome::kNoData;
  }
  return raw;
}

template <typename Record, typename Decoder>
DnsAnswer<Record> Decode(std::string name, RawAnswer raw, Decoder decode) {
  DnsAnswer<Record> answer;
  answer.name = std::move(name);
  answer.outcome = raw.outcome;
  answer.dnssec = raw.dnssec;
  answer.canonical_name = std::move(raw.canonical_name);
  answer.detail = std::move(raw.detail);
  for (const std::string& rdata : raw.rdata) {
    auto record = decode(rdata);
    if (!record.ok()) {
      // A record libunbound accepted but we cannot read is as useless as no
      // answer; say so rather than silently dropping it.
      answer.outcome = DnsOutcome::kServFail;
      answer.records.clear();
      answer.detail = std::string(record.status().message());
      return answer;
    }
    answer.records.push_back(*std::move(record));
  }
  return answer;
}

absl::StatusOr<MxRecord> DecodeMxRecord(absl::string_view rdata) {
  absl::StatusOr<internal::MxRdata> mx = internal::DecodeMx(rdata);
  if (!mx.ok()) return mx.status();
  return MxRecord{mx->preference, std::move(mx->host)};
}

struct Question {
  std::string name;
  int type = 0;
};

// A query in flight; libunbound's callback fills it in.
struct Slot {
  int async_id = 0;
  bool done = false;
  int error = 0;
  ub_result* result = nullptr;
};

void OnResult(void* data, int error, ub_result* result) {
  Slot* slot = static_cast<Slot*>(data);
  slot->done = true;
  slot->error = error;
  slot->result = result;
}

}  // namespace

absl::string_view DnsOutcomeName(DnsOutcome outcome) {
  switch (outcome) {
    case DnsOutcome::kAnswer: return "answer";
    case DnsOutcome::kNoData: return "nodata";
    case DnsOutcome::kNxDomain: return "nxdomain";
    case DnsOutcome::kServFail: return "servfail";
  }
  return "?";
}

std::string TlsaName(absl::string_view mx_host) {
  return absl::StrCat("_25._tcp.", mx_host);
}

std::string MtaStsTxtName(absl::string_view domain) {
  return absl::StrCat("_mta-sts.", domain);
}

std::string TlsRptTxtName(absl::string_view domain) {
  return absl::StrCat("_smtp._tls.", domain);
}

ResolverOptions ResolverOptions::System() {
  ResolverOptions options;
  options.resolv_conf = "/etc/resolv.conf";
  constexpr char kRootKey[] = "/usr/share/dns/root.key";
  if (std::ifstream(kRootKey).good()) options.trust_anchor_file = kRootKey;
  return options;
}

absl::StatusOr<std::unique_ptr<Resolver>> Resolver::Create(
    const ResolverOptions& options) {
  if (options.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("resolver timeout must be positive");
  }
  ub_ctx* ctx = ub_ctx_create();
  if (ctx == nullptr) return absl::InternalError("libunbound: ub_ctx_create failed");
  std::unique_ptr<Resolver> resolver(new Resolver(ctx, options.timeout));

  // Lookups run in a libunbound thread so that a batch can be waited for
  // with a deadline (ub_resolve blocks for as long as unbound retries).
  if (int rc = ub_ctx_async(ctx, 1); rc != 0) return UnboundError("async", rc);
  const bool forwarding = !options.forwarders.empty() ||
                          !options.resolv_conf.empty() ||
                          !options.stub_zones.empty();
  if (forwarding) {
    // unbound refuses to send queries to 127.0.0.0/8 and ::1 by default (a
    // guard for a server that might query itself); a local validating
    // resolver, systemd-resolved or a test server lives exactly there.
    if (int rc = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no");
        rc != 0) {
      return UnboundError("do-not-query-localhost", rc);
    }
  }
  for (const std::string& forwarder : options.forwarders) {
    if (int rc = ub_ctx_set_fwd(ctx, forwarder.c_str()); rc != 0) {
      return UnboundError(absl::StrCat("forwarder '", forwarder, "'"), rc);
    }
  }
  if (!options.resolv_conf.empty()) {
    if (int rc = ub_ctx_resolvconf(ctx, options.resolv_conf.c_str()); rc != 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot use ", options.resolv_conf, ": ",
                       rc == UB_READFILE ? strerror(errno) : ub_strerror(rc)));
    }
  }
  for (const StubZone& stub : options.stub_zones) {
    if (stub.addresses.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("stub zone '", stub.zone, "' has no address"));
    }
    for (const std::string& address : stub.addresses) {
      if (int rc = ub_ctx_set_stub(ctx, stub.zone.c_str(), address.c_str(),
                                   /*isprime=*/0);
          rc != 0) {
        return UnboundError(
            absl::StrCat("stub zone '", stub.zone, "' at '", address, "'"), rc);
      }
    }
  }
  if (!options.trust_anchor_file.empty()) {
    if (!std::ifstream(options.trust_anchor_file).good()) {
      return absl::NotFoundError(absl::StrCat(
          "cannot read trust anchor file ", options.trust_anchor_file));
    }
    if (int rc = ub_ctx_add_ta_file(ctx, options.trust_anchor_file.c_str());
        rc != 0) {
      return UnboundError(
          absl::StrCat("trust anchor file ", options.trust_anchor_file), rc);
    }
  }
  for (const std::string& anchor : options.trust_anchors) {
    if (int rc = ub_ctx_add_ta(ctx, anchor.c_str()); rc != 0) {
      return UnboundError(absl::StrCat("trust anchor '", anchor, "'"), rc);
    }
  }
  // libunbound reads its configuration (trust anchors included) lazily, at
  // the first query. Ask for "localhost", which its built-in local zone
  // answers without any network, so that a bad anchor fails here.
  ub_result* result = nullptr;
  if (int rc = ub_resolve(ctx, "localhost", kTypeA, kClassIn, &result);
      rc != 0) {
    return UnboundError("configuration", rc);
  }
  ub_resolve_free(result);
  return resolver;
}

Resolver::~Resolver() { ub_ctx_delete(ctx_); }

absl::StatusOr<DnsAnswers> Resolver::Lookup(const DnsQueries& queries) {
  std::vector<Question> questions;
  auto add = [&](const std::vector<std::string>& names, int type,
                 bool tlsa) -> absl::Status {
    for (const std::string& name : names) {
      absl::StatusOr<std::string> canonical = QueryName(name);
      if (!canonical.ok()) return canonical.status();
      questions.push_back(
          {tlsa ? TlsaName(*canonical) : *std::move(canonical), type});
    }
    return absl::OkStatus();
  };
  for (absl::Status s : {add(queries.mx, kTypeMx, false),
                         add(queries.a, kTypeA, false),
                         add(queries.aaaa, kTypeAaaa, false),
                         add(queries.tlsa_hosts, kTypeTlsa, true),
                         add(queries.txt, kTypeTxt, false)}) {
    if (!s.ok()) return s;
  }

  std::vector<Slot> slots(questions.size());
  absl::Cleanup release = [&] {
    for (Slot& slot : slots) {
      if (!slot.done) ub_cancel(ctx_, slot.async_id);
      if (slot.result != nullptr) ub_resolve_free(slot.result);
    }
  };
  for (size_t i = 0; i < questions.size(); ++i) {
    if (int rc = ub_resolve_async(ctx_, questions[i].name.c_str(),
                                  questions[i].type, kClassIn, &slots[i],
                                  OnResult, &slots[i].async_id);
        rc != 0) {
      slots[i].done = true;  // never started: nothing to cancel
      return UnboundError(absl::StrCat("query for ", questions[i].name), rc);
    }
  }
  // The deadline bounds waiting, it decides nothing about what DNS said.
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoMilliseconds(timeout_);
  const int fd = ub_fd(ctx_);
  auto pending = [&] {
    for (const Slot& slot : slots) {
      if (!slot.done) return true;
    }
    return false;
  };
  while (pending()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd poll_fd = {fd, POLLIN, 0};
    const int ready = poll(&poll_fd, 1, static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno != EINTR) {
      return absl::InternalError(
          absl::StrCat("waiting for libunbound: ", strerror(errno)));
    }
    if (ready > 0) {
      if (int rc = ub_process(ctx_); rc != 0) return UnboundError("process", rc);
    }
  }

  std::vector<RawAnswer> raw(questions.size());
  for (size_t i = 0; i < slots.size(); ++i) {
    if (!slots[i].done) {
      raw[i].detail = absl::StrCat("timed out after ",
                                   absl::FormatDuration(timeout_));
    } else if (slots[i].error != 0) {
      raw[i].detail = absl::StrCat("libunbound: ", ub_strerror(slots[i].error));
    } else {
      raw[i] = FromResult(*slots[i].result);
    }
  }

  DnsAnswers answers;
  size_t i = 0;
  for (size_t n = 0; n < queries.mx.size(); ++n, ++i) {
    answers.mx.push_back(Decode<MxRecord>(questions[i].name, std::move(raw[i]),
                                          DecodeMxRecord));
  }
  for (size_t n = 0; n < queries.a.size(); ++n, ++i) {
    answers.a.push_back(Decode<std::string>(questions[i].name,
                                            std::move(raw[i]), internal::DecodeA));
  }
  for (size_t n = 0; n < queries.aaaa.size(); ++n, ++i) {
    answers.aaaa.push_back(Decode<std::string>(
        questions[i].name, std::move(raw[i]), internal::DecodeAaaa));
  }
  for (size_t n = 0; n < queries.tlsa_hosts.size(); ++n, ++i) {
    answers.tlsa.push_back(Decode<policy::TlsaRecord>(
        questions[i].name, std::move(raw[i]), internal::DecodeTlsa));
  }
  for (size_t n = 0; n < queries.txt.size(); ++n, ++i) {
    answers.txt.push_back(Decode<std::string>(
        questions[i].name, std::move(raw[i]), internal::DecodeTxt));
  }
  return answers;
}

absl::StatusOr<DnsAnswer<MxRecord>> Resolver::LookupMx(
    absl::string_view domain) {
  DnsQueries queries;
  queries.mx.emplace_back(domain);
  absl::StatusOr<DnsAnswers> answers = Lookup(queries);
  if (!answers.ok()) return answers.status();
  return std::move(answers->mx[0]);
}

absl::StatusOr<DnsAnswer<std::string>> Resolver::LookupA(
    absl::string_view name) {
  DnsQueries queries;
  queries.a.emplace_back(name);
  absl::StatusOr<DnsAnswers> answers = Lookup(queries);
  if (!answers.ok()) return answers.status();
  return std::move(answers->a[0]);
}

absl::StatusOr<DnsAnswer<std::string>> Resolver::LookupAaaa(
    absl::string_view name) {
  DnsQueries queries;
  queries.aaaa.emplace_back(name);
  absl::StatusOr<DnsAnswers> answers = Lookup(queries);
  if (!answers.ok()) return answers.status();
  return std::move(answers->aaaa[0]);
}

absl::StatusOr<DnsAnswer<policy::TlsaRecord>> Resolver::LookupTlsa(
    absl::string_view mx_host) {
  DnsQueries queries;
  queries.tlsa_hosts.emplace_back(mx_host);
  absl::StatusOr<DnsAnswers> answers = Lookup(queries);
  if (!answers.ok()) return answers.status();
  return std::move(answers->tlsa[0]);
}

absl::StatusOr<DnsAnswer<std::string>> Resolver::LookupTxt(
    absl::string_view name) {
  DnsQueries queries;
  queries.txt.emplace_back(name);
  absl::StatusOr<DnsAnswers> answers = Lookup(queries);
  if (!answers.ok()) return answers.status();
  return std::move(answers->txt[0]);
}

}  // namespace starling::net
