// The C API (starling.h) over the C++ core. Every function converts its
// arguments, makes one call into core/smtp, core/starttls or core/policy and
// converts the answer back; nothing here decides anything of its own.

#include "core/capi/starling.h"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/policy/dane.h"
#include "core/policy/engine.h"
#include "core/policy/hook.h"
#include "core/policy/level.h"
#include "core/policy/mta_sts.h"
#include "core/policy/table.h"
#include "core/smtp/client_session.h"
#include "core/smtp/command.h"
#include "core/smtp/reply.h"
#include "core/smtp/server_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/starttls/connection.h"
#include "core/tls/channel.h"
#include "core/tls/credentials.h"
#include "core/tls/facts.h"
#include "core/tls/rng.h"
#include "core/tlsfacts/tls_facts.h"

namespace {

namespace smtp = starling::smtp;
namespace policy = starling::policy;
namespace starttls = starling::starttls;
namespace tls = starling::tls;
using starling::ChainVerdict;
using starling::TlsFacts;
using starling::TlsVersion;

// The C enums are the C++ ones, value for value.
static_assert(STARLING_TLS_1_2 == static_cast<int>(TlsVersion::kTls12));
static_assert(STARLING_TLS_1_3 == static_cast<int>(TlsVersion::kTls13));
static_assert(STARLING_CHAIN_TRUSTED == static_cast<int>(ChainVerdict::kTrusted));
static_assert(STARLING_CHAIN_OTHER_FAILURE ==
              static_cast<int>(ChainVerdict::kOtherFailure));
static_assert(STARLING_VERDICT_TRY_NEXT_MX ==
              static_cast<int>(smtp::DeliveryVerdict::kTryNextMx));
static_assert(STARLING_TLS_NOT_ATTEMPTED ==
              static_cast<int>(smtp::TlsProblem::kNotAttempted));
static_assert(STARLING_RECIPIENT_PERM_FAILED ==
              static_cast<int>(smtp::RecipientStatus::kPermFailed));
static_assert(STARLING_DATA_LOSS == static_cast<int>(absl::StatusCode::kDataLoss));

thread_local std::string last_error;

starling_status Report(const absl::Status& status) {
  if (status.ok()) return STARLING_OK;
  last_error = std::string(status.message());
  const int code = static_cast<int>(status.code());
  return code >= STARLING_CANCELLED && code <= STARLING_UNAUTHENTICATED
             ? static_cast<starling_status>(code)
             : STARLING_UNKNOWN;
}

starling_status Missing(absl::string_view what) {
  return Report(absl::InvalidArgumentError(absl::StrCat(what, " is NULL")));
}

absl::Time ToTime(starling_time t) {
  return t == STARLING_TIME_NEVER ? absl::InfiniteFuture()
                                  : absl::FromUnixNanos(t);
}

starling_time FromTime(absl::Time t) {
  if (t == absl::InfiniteFuture()) return STARLING_TIME_NEVER;
  if (t == absl::InfinitePast()) return INT64_MIN;
  return absl::ToUnixNanos(t);
}

std::string Str(const char* s) { return s == nullptr ? std::string() : s; }

starling_bytes View(absl::string_view s) { return {s.data(), s.size()}; }

// Whether the caller's struct (of struct_size bytes) has `field`: fields a
// program built against an older header does not know keep their default.
#define STARLING_HAS(ptr, field)                                          \
  ((ptr) != nullptr &&                                                    \
   offsetof(std::remove_pointer_t<decltype(ptr)>, field) +                \
           sizeof((ptr)->field) <=                                        \
       (ptr)->struct_size)
#define STARLING_GET(ptr, field, fallback) \
  (STARLING_HAS(ptr, field) ? (ptr)->field : (fallback))

// A C caller may store any int in an enum field; in C++ loading a value
// outside the enum's range is undefined, so enums are read as their bits.
template <typename E>
int EnumValue(const E& value) {
  static_assert(std::is_enum_v<E> && sizeof(E) == sizeof(int));
  int bits;
  std::memcpy(&bits, &value, sizeof bits);
  return bits;
}
#define STARLING_GET_ENUM(ptr, field, fallback) \
  (STARLING_HAS(ptr, field) ? EnumValue((ptr)->field) : int{fallback})

absl::StatusOr<smtp::Reply> MakeReply(int code, const char* enhanced,
                                      const char* text) {
  smtp::Reply reply;
  reply.code = code;
  if (enhanced != nullptr && *enhanced != '\0') {
    std::optional<smtp::EnhancedStatus> parsed =
        smtp::EnhancedStatus::Parse(enhanced);
    if (!parsed.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad enhanced status code '", enhanced, "'"));
    }
    reply.enhanced = *parsed;
  }
  reply.lines.push_back(Str(text));
  return reply;
}

absl::StatusOr<TlsFacts> ToFacts(const starling_tls_facts* in) {
  if (in == nullptr) return absl::InvalidArgumentError("TLS facts are NULL");
  TlsFacts facts;
  const int version = STARLING_GET_ENUM(in, version, STARLING_TLS_UNKNOWN);
  if (version < STARLING_TLS_UNKNOWN || version > STARLING_TLS_1_3) {
    return absl::InvalidArgumentError("unknown TLS version");
  }
  facts.version = static_cast<TlsVersion>(version);
  facts.cipher_suite = Str(STARLING_GET(in, cipher_suite, nullptr));
  facts.key_exchange_group = Str(STARLING_GET(in, key_exchange_group, nullptr));
  facts.forward_secret = STARLING_GET(in, forward_secret, 0) != 0;
  facts.sni = Str(STARLING_GET(in, sni, nullptr));
  const starling_bytes* chain = STARLING_GET(in, peer_chain_der, nullptr);
  const size_t count = STARLING_GET(in, peer_chain_count, size_t{0});
  if (count > 0 && chain == nullptr) {
    return absl::InvalidArgumentError("peer_chain_der is NULL");
  }
  for (size_t i = 0; i < count; ++i) {
    if (chain[i].data == nullptr && chain[i].size > 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("peer_chain_der[", i, "] is NULL"));
    }
    absl::StatusOr<starling::CertificateFacts> cert = tls::DescribeCertificateDer(
        absl::string_view(chain[i].data, chain[i].size));
    if (!cert.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "peer_chain_der[", i, "]: ", cert.status().message()));
    }
    facts.peer_chain.push_back(*std::move(cert));
  }
  const int verdict =
      STARLING_GET_ENUM(in, chain_verdict, STARLING_CHAIN_NOT_CHECKED);
  if (verdict < STARLING_CHAIN_NOT_CHECKED ||
      verdict > STARLING_CHAIN_OTHER_FAILURE) {
    return absl::InvalidArgumentError("unknown chain verdict");
  }
  facts.chain_verdict = static_cast<ChainVerdict>(verdict);
  facts.trust_anchor_dn = Str(STARLING_GET(in, trust_anchor_dn, nullptr));
  facts.chain_detail = Str(STARLING_GET(in, chain_detail, nullptr));
  return facts;
}

// A TlsFacts described for C, with the strings it points into.
struct TlsInfo {
  const TlsFacts* source = nullptr;  // the session's, stable once set
  TlsFacts facts;
  std::string version_name;
  starling_tls_info info{};
};

const starling_tls_info* DescribeTls(const TlsFacts* facts,
                                     std::unique_ptr<TlsInfo>* store) {
  if (facts == nullptr) return nullptr;
  // Described once: a pointer handed out earlier stays valid.
  if (*store != nullptr && (*store)->source == facts) return &(*store)->info;
  *store = std::make_unique<TlsInfo>();
  TlsInfo& s = **store;
  s.source = facts;
  s.facts = *facts;
  s.version_name = std::string(policy::TlsVersionName(s.facts.version));
  s.info.version = static_cast<starling_tls_version>(s.facts.version);
  s.info.version_name = s.version_name.c_str();
  s.info.cipher_suite = s.facts.cipher_suite.c_str();
  s.info.key_exchange_group = s.facts.key_exchange_group.c_str();
  s.info.forward_secret = s.facts.forward_secret ? 1 : 0;
  s.info.sni = s.facts.sni.c_str();
  s.info.peer_chain_count = s.facts.peer_chain.size();
  static const std::string kNone;
  const starling::CertificateFacts* leaf =
      s.facts.peer_chain.empty() ? nullptr : &s.facts.peer_chain.front();
  s.info.peer_subject_dn = leaf ? leaf->subject_dn.c_str() : kNone.c_str();
  s.info.peer_issuer_dn = leaf ? leaf->issuer_dn.c_str() : kNone.c_str();
  s.info.chain_verdict = static_cast<starling_chain_verdict>(s.facts.chain_verdict);
  s.info.chain_detail = s.facts.chain_detail.c_str();
  return &s.info;
}

std::shared_ptr<Botan::RandomNumberGenerator> MakeRng(int rng,
                                                      uint64_t seed,
                                                      absl::string_view stream) {
  return rng == STARLING_RNG_SEEDED ? tls::SeededRng(seed, stream)
                                    : tls::SystemRng();
}

absl::StatusOr<std::shared_ptr<const tls::Identity>> LoadIdentity(
    const char* cert_file, const char* key_file, const char* passphrase) {
  return tls::Identity::FromFiles(
      cert_file, key_file != nullptr ? key_file : cert_file, Str(passphrase));
}

// What a starling_destination says, in the policy engine's terms.
struct DestinationInputs {
  smtp::Destination destination;
  std::optional<policy::DaneState> dane;
  std::optional<policy::StsPolicy> sts;
};

absl::StatusOr<DestinationInputs> ReadDestination(const starling_destination* d) {
  if (d == nullptr) return absl::InvalidArgumentError("destination is NULL");
  DestinationInputs out;
  out.destination.next_hop_domain = Str(STARLING_GET(d, next_hop_domain, nullptr));
  out.destination.mx_host = Str(STARLING_GET(d, mx_host, nullptr));
  out.destination.mx_preference = STARLING_GET(d, mx_preference, uint32_t{0});
  out.destination.last_mx = STARLING_GET(d, more_mx, 0) == 0;
  const int dnssec = STARLING_GET_ENUM(d, dnssec, STARLING_DNSSEC_INSECURE);
  const char* const* tlsa = STARLING_GET(d, tlsa, nullptr);
  const size_t tlsa_count = STARLING_GET(d, tlsa_count, size_t{0});
  if (tlsa_count > 0 && tlsa == nullptr) {
    return absl::InvalidArgumentError("tlsa is NULL");
  }
  if (dnssec != STARLING_DNSSEC_INSECURE || tlsa_count > 0) {
    policy::DaneState dane;
    switch (dnssec) {
      case STARLING_DNSSEC_INSECURE: dane.dnssec = policy::DnssecStatus::kInsecure; break;
      case STARLING_DNSSEC_SECURE: dane.dnssec = policy::DnssecStatus::kSecure; break;
      case STARLING_DNSSEC_BOGUS: dane.dnssec = policy::DnssecStatus::kBogus; break;
      default: return absl::InvalidArgumentError("unknown DNSSEC status");
    }
    for (size_t i = 0; i < tlsa_count; ++i) {
      absl::StatusOr<policy::TlsaRecord> record =
          policy::ParseTlsaRecord(Str(tlsa[i]));
      if (!record.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("tlsa[", i, "]: ", record.status().message()));
      }
      dane.records.push_back(*std::move(record));
    }
    out.dane = std::move(dane);
  }
  const char* sts = STARLING_GET(d, sts_policy, nullptr);
  if (sts != nullptr) {
    absl::StatusOr<policy::StsPolicy> parsed = policy::ParseStsPolicy(sts);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("sts_policy: ", parsed.status().message()));
    }
    out.sts = *std::move(parsed);
  }
  return out;
}

}  // namespace

// ---- handles ---------------------------------------------------------------

struct starling_server {
  // Exactly one is set: the bare session (embedder-run TLS) or the pump.
  std::unique_ptr<smtp::ServerSession> session;
  std::unique_ptr<starttls::ServerConnection> pump;

  smtp::ServerEvent source;  // what `event` points into
  std::string mailbox;
  starling_server_event event{};
  std::unique_ptr<TlsInfo> tls;
  mutable std::string helo_name;
  mutable std::string user;
  mutable std::string fatal_reason;

  const smtp::ServerSession& Session() const {
    return pump ? pump->session() : *session;
  }
};

struct starling_policy_table {
  policy::PolicyTable table;
};

struct starling_client {
  std::optional<policy::PolicyEngineHook> engine;
  smtp::OpportunisticTlsPolicy opportunistic;
  // Exactly one is set, as in starling_server.
  std::unique_ptr<smtp::ClientSession> session;
  std::unique_ptr<starttls::ClientConnection> pump;

  smtp::ClientEvent source;
  starling_client_event event{};
  std::unique_ptr<TlsInfo> tls;
  mutable std::string fatal_reason;

  struct MessageStore {
    std::string label;
    std::string tlsrpt;
    starling_message_result result{};
  };
  struct RecipientStore {
    std::string mailbox, stage, enhanced, text, detail;
    starling_recipient_result result{};
  };
  // Per message (and recipient), so that a result fetched stays put while
  // another is fetched.
  std::vector<std::unique_ptr<MessageStore>> messages;
  std::vector<std::vector<std::unique_ptr<RecipientStore>>> recipients;

  const smtp::ClientSession& Session() const {
    return pump ? pump->session() : *session;
  }
};

// ---- version, status -------------------------------------------------------

const char* starling_version(void) { return STARLING_VERSION; }
int starling_abi_version(void) { return STARLING_ABI_VERSION; }

const char* starling_status_name(starling_status status) {
  switch (EnumValue(status)) {
    case STARLING_OK: return "OK";
    case STARLING_CANCELLED: return "CANCELLED";
    case STARLING_UNKNOWN: return "UNKNOWN";
    case STARLING_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case STARLING_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case STARLING_NOT_FOUND: return "NOT_FOUND";
    case STARLING_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case STARLING_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case STARLING_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case STARLING_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case STARLING_ABORTED: return "ABORTED";
    case STARLING_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case STARLING_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case STARLING_INTERNAL: return "INTERNAL";
    case STARLING_UNAVAILABLE: return "UNAVAILABLE";
    case STARLING_DATA_LOSS: return "DATA_LOSS";
    case STARLING_UNAUTHENTICATED: return "UNAUTHENTICATED";
  }
  return "UNKNOWN";
}

const char* starling_last_error(void) { return last_error.c_str(); }

// ---- server ----------------------------------------------------------------

starling_status starling_server_new(const starling_server_options* o,
                                    starling_server** out) {
  if (out == nullptr) return Missing("out");
  *out = nullptr;
  auto options = std::make_shared<smtp::ServerOptions>();
  if (const char* v = STARLING_GET(o, hostname, nullptr)) options->hostname = v;
  if (const char* v = STARLING_GET(o, greeting_text, nullptr)) {
    options->greeting_text = v;
  }
  const char* cert_file = STARLING_GET(o, tls_cert_file, nullptr);
  options->offer_starttls =
      STARLING_GET(o, offer_starttls, 0) != 0 || cert_file != nullptr;
  options->require_tls = STARLING_GET(o, require_tls, 0) != 0;
  if (const char* v = STARLING_GET(o, auth_mechanisms, nullptr)) {
    options->auth_mechanisms =
        absl::StrSplit(v, absl::ByAnyChar(" \t,"), absl::SkipEmpty());
  }
  options->auth_requires_tls = STARLING_GET(o, auth_in_plaintext, 0) == 0;
  const uint64_t size = STARLING_GET(o, max_message_size, uint64_t{0});
  if (size == UINT64_MAX) {
    options->max_message_size = 0;  // unlimited
  } else if (size != 0) {
    options->max_message_size = size;
  }
  if (const size_t n = STARLING_GET(o, max_recipients, size_t{0}); n != 0) {
    options->max_recipients = n;
  }
  if (STARLING_GET(o, normalize_bare_line_endings, 0) != 0) {
    options->bare_line_endings = smtp::BareLineEndings::kNormalize;
  }
  if (STARLING_GET(o, discard_after_starttls, 0) != 0) {
    options->starttls_tail = smtp::StartTlsTail::kDiscard;
  }

  auto server = std::make_unique<starling_server>();
  if (cert_file == nullptr) {
    server->session = std::make_unique<smtp::ServerSession>(std::move(options));
  } else {
    absl::StatusOr<std::shared_ptr<const tls::Identity>> identity =
        LoadIdentity(cert_file, STARLING_GET(o, tls_key_file, nullptr),
                     STARLING_GET(o, tls_key_passphrase, nullptr));
    if (!identity.ok()) return Report(identity.status());
    tls::ChannelOptions channel;
    channel.role = tls::Role::kServer;
    channel.identities.push_back(*std::move(identity));
    if (const char* ca = STARLING_GET(o, tls_client_ca_path, nullptr)) {
      absl::StatusOr<std::shared_ptr<const tls::TrustStore>> trust =
          tls::TrustStore::FromPath(ca);
      if (!trust.ok()) return Report(trust.status());
      channel.trust = *std::move(trust);
      channel.policy.client_auth = tls::ClientAuth::kRequest;
    }
    channel.rng = MakeRng(STARLING_GET_ENUM(o, tls_rng, STARLING_RNG_SYSTEM),
                          STARLING_GET(o, tls_rng_seed, uint64_t{0}), "server");
    server->pump = std::make_unique<starttls::ServerConnection>(
        starttls::ServerConnection::Options{std::move(options),
                                            std::move(channel)});
  }
  *out = server.release();
  return STARLING_OK;
}

void starling_server_free(starling_server* server) { delete server; }

starling_status starling_server_accept_connection(starling_server* s,
                                                  starling_time now) {
  if (s == nullptr) return Missing("server");
  return Report(s->pump ? s->pump->AcceptConnection(ToTime(now))
                        : s->session->AcceptConnection(ToTime(now)));
}

starling_status starling_server_refuse_connection(starling_server* s, int code,
                                                  const char* enhanced,
                                                  const char* text,
                                                  starling_time now) {
  if (s == nullptr) return Missing("server");
  absl::StatusOr<smtp::Reply> reply = MakeReply(code, enhanced, text);
  if (!reply.ok()) return Report(reply.status());
  return Report(s->pump ? s->pump->RefuseConnection(*reply, ToTime(now))
                        : s->session->RefuseConnection(*reply, ToTime(now)));
}

starling_status starling_server_receive(starling_server* s, const void* bytes,
                                        size_t size, starling_time now) {
  if (s == nullptr) return Missing("server");
  if (bytes == nullptr && size > 0) return Missing("bytes");
  const absl::string_view in(static_cast<const char*>(bytes), size);
  return Report(s->pump ? s->pump->ReceiveWire(in, ToTime(now))
                        : s->session->Receive(in, ToTime(now)));
}

const starling_server_event* starling_server_next_event(starling_server* s) {
  if (s == nullptr) return nullptr;
  smtp::ServerEvent* next =
      s->pump ? s->pump->NextEvent() : s->session->NextEvent();
  if (next == nullptr) return nullptr;
  s->source = std::move(*next);
  const smtp::ServerEvent& e = s->source;
  starling_server_event& c = s->event;
  c = starling_server_event{};
  s->mailbox.clear();
  switch (e.type) {
    case smtp::ServerEventType::kHelo:
      c.type = STARLING_SERVER_HELO;
      c.ehlo = e.command.verb == smtp::Verb::kEhlo ? 1 : 0;
      c.domain = View(e.command.domain);
      break;
    case smtp::ServerEventType::kMailFrom:
    case smtp::ServerEventType::kRcptTo: {
      const bool mail = e.type == smtp::ServerEventType::kMailFrom;
      c.type = mail ? STARLING_SERVER_MAIL_FROM : STARLING_SERVER_RCPT_TO;
      if (e.command.path.has_value()) {
        s->mailbox = e.command.path->ToString();
      } else {
        c.null_path = 1;
      }
      c.mailbox = View(s->mailbox);
      const smtp::MailParameters& m = e.command.mail;
      c.has_size = m.size.has_value() ? 1 : 0;
      c.size = m.size.value_or(0);
      if (m.body.has_value()) {
        c.body = *m.body == smtp::BodyType::k7Bit      ? STARLING_BODY_7BIT
                 : *m.body == smtp::BodyType::k8BitMime ? STARLING_BODY_8BITMIME
                                                        : STARLING_BODY_BINARYMIME;
      }
      c.smtputf8 = m.smtputf8 ? 1 : 0;
      c.requiretls = m.requiretls ? 1 : 0;
      if (m.ret.has_value()) {
        c.ret = *m.ret == smtp::DsnReturn::kFull ? STARLING_RET_FULL
                                                 : STARLING_RET_HEADERS;
      }
      if (m.envid.has_value()) c.envid = View(*m.envid);
      if (m.auth.has_value()) c.auth = View(*m.auth);
      if (const std::optional<smtp::DsnNotify>& n = e.command.rcpt.notify) {
        c.notify = (n->never ? STARLING_NOTIFY_NEVER : 0u) |
                   (n->success ? STARLING_NOTIFY_SUCCESS : 0u) |
                   (n->failure ? STARLING_NOTIFY_FAILURE : 0u) |
                   (n->delay ? STARLING_NOTIFY_DELAY : 0u);
      }
      if (e.command.rcpt.orcpt.has_value()) c.orcpt = View(*e.command.rcpt.orcpt);
      break;
    }
    case smtp::ServerEventType::kMessageData:
      c.type = STARLING_SERVER_MESSAGE_DATA;
      c.data = View(e.data);
      break;
    case smtp::ServerEventType::kMessageComplete:
      c.type = STARLING_SERVER_MESSAGE_COMPLETE;
      c.message_size = e.message_size;
      c.via_bdat = e.via_bdat ? 1 : 0;
      break;
    case smtp::ServerEventType::kMessageAborted:
      c.type = STARLING_SERVER_MESSAGE_ABORTED;
      break;
    case smtp::ServerEventType::kAuth:
      c.type = STARLING_SERVER_AUTH;
      c.auth_mechanism = View(e.auth.mechanism);
      c.auth_authorization_id = View(e.auth.authorization_id);
      c.auth_username = View(e.auth.username);
      c.auth_password = View(e.auth.password);
      c.auth_response = View(e.auth.response);
      break;
    case smtp::ServerEventType::kStartTls:
      c.type = STARLING_SERVER_STARTTLS;
      break;
    case smtp::ServerEventType::kClosed:
      c.type = STARLING_SERVER_CLOSED;
      break;
  }
  // Views of empty strings still point at a NUL.
  static const char kEmpty[] = "";
  for (starling_bytes* b : {&c.domain, &c.mailbox, &c.envid, &c.auth, &c.orcpt,
                            &c.data, &c.auth_mechanism, &c.auth_authorization_id,
                            &c.auth_username, &c.auth_password, &c.auth_response,
                            &c.reason}) {
    if (b->data == nullptr) *b = {kEmpty, 0};
  }
  if (e.type == smtp::ServerEventType::kClosed ||
      e.type == smtp::ServerEventType::kMessageAborted) {
    c.reason = View(e.reason);
  }
  return &c;
}

starling_status starling_server_accept(starling_server* s, starling_time now) {
  if (s == nullptr) return Missing("server");
  return Report(s->pump ? s->pump->Accept(ToTime(now))
                        : s->session->Accept(ToTime(now)));
}

starling_status starling_server_accept_with(starling_server* s, int code,
                                            const char* enhanced,
                                            const char* text,
                                            starling_time now) {
  if (s == nullptr) return Missing("server");
  absl::StatusOr<smtp::Reply> reply = MakeReply(code, enhanced, text);
  if (!reply.ok()) return Report(reply.status());
  return Report(s->pump ? s->pump->Accept(*reply, ToTime(now))
                        : s->session->Accept(*reply, ToTime(now)));
}

starling_status starling_server_reject(starling_server* s, int code,
                                       const char* enhanced, const char* text,
                                       starling_time now) {
  if (s == nullptr) return Missing("server");
  absl::StatusOr<smtp::Reply> reply = MakeReply(code, enhanced, text);
  if (!reply.ok()) return Report(reply.status());
  return Report(s->pump ? s->pump->Reject(*reply, ToTime(now))
                        : s->session->Reject(*reply, ToTime(now)));
}

starling_status starling_server_auth_challenge(starling_server* s,
                                               const void* challenge,
                                               size_t size, starling_time now) {
  if (s == nullptr) return Missing("server");
  if (challenge == nullptr && size > 0) return Missing("challenge");
  const absl::string_view bytes(static_cast<const char*>(challenge), size);
  return Report(s->pump ? s->pump->AuthChallenge(bytes, ToTime(now))
                        : s->session->AuthChallenge(bytes, ToTime(now)));
}

starling_status starling_server_tls_established(starling_server* s,
                                                const starling_tls_facts* facts,
                                                starling_time now) {
  if (s == nullptr) return Missing("server");
  if (s->pump) {
    return Report(absl::FailedPreconditionError(
        "Starling runs this server's TLS (tls_cert_file): nothing to report"));
  }
  absl::StatusOr<TlsFacts> converted = ToFacts(facts);
  if (!converted.ok()) return Report(converted.status());
  return Report(s->session->TlsEstablished(*std::move(converted), ToTime(now)));
}

starling_status starling_server_tls_failed(starling_server* s,
                                           const char* reason,
                                           starling_time now) {
  if (s == nullptr) return Missing("server");
  if (s->pump) {
    return Report(absl::FailedPreconditionError(
        "Starling runs this server's TLS (tls_cert_file): nothing to report"));
  }
  return Report(s->session->TlsFailed(Str(reason), ToTime(now)));
}

void starling_server_set_tls_available(starling_server* s, int available) {
  if (s == nullptr) return;
  smtp::ServerSession& session = s->pump ? s->pump->mutable_session() : *s->session;
  session.set_tls_available(available != 0);
}

void starling_server_connection_lost(starling_server* s, starling_time now) {
  if (s == nullptr) return;
  if (s->pump) {
    s->pump->ConnectionLost(ToTime(now));
  } else {
    s->session->ConnectionLost(ToTime(now));
  }
}

void starling_server_shutdown(starling_server* s, starling_time now) {
  if (s == nullptr) return;
  if (s->pump) {
    s->pump->Shutdown(ToTime(now));
  } else {
    s->session->Shutdown(ToTime(now));
  }
}

starling_time starling_server_next_deadline(const starling_server* s) {
  if (s == nullptr) return STARLING_TIME_NEVER;
  return FromTime(s->pump ? s->pump->NextDeadline() : s->session->NextDeadline());
}

starling_status starling_server_on_timeout(starling_server* s,
                                           starling_time now) {
  if (s == nullptr) return Missing("server");
  return Report(s->pump ? s->pump->OnTimeout(ToTime(now))
                        : s->session->OnTimeout(ToTime(now)));
}

starling_bytes starling_server_pending_output(const starling_server* s) {
  if (s == nullptr) return {"", 0};
  return View(s->pump ? s->pump->PendingWire() : s->session->PendingOutput());
}

void starling_server_consume_output(starling_server* s, size_t size) {
  if (s == nullptr) return;
  if (s->pump) {
    s->pump->ConsumeWire(size);
  } else {
    s->session->ConsumeOutput(size);
  }
}

int starling_server_finished(const starling_server* s) {
  if (s == nullptr) return 1;
  return (s->pump ? s->pump->finished() : s->session->closed()) ? 1 : 0;
}

const char* starling_server_helo_name(const starling_server* s) {
  if (s == nullptr) return "";
  s->helo_name = std::string(s->Session().helo_name());
  return s->helo_name.c_str();
}

const char* starling_server_authenticated_user(const starling_server* s) {
  if (s == nullptr) return "";
  s->user = std::string(s->Session().authenticated_user());
  return s->user.c_str();
}

const starling_tls_info* starling_server_tls(starling_server* s) {
  if (s == nullptr) return nullptr;
  return DescribeTls(s->Session().tls(), &s->tls);
}

const char* starling_server_fatal_reason(const starling_server* s) {
  if (s == nullptr) return "";
  s->fatal_reason = std::string(smtp::SessionErrorName(s->Session().fatal_reason()));
  return s->fatal_reason.c_str();
}

// ---- policy ----------------------------------------------------------------

starling_status starling_policy_table_parse(const char* text, size_t size,
                                            starling_policy_table** out) {
  if (out == nullptr) return Missing("out");
  *out = nullptr;
  if (text == nullptr && size > 0) return Missing("text");
  absl::StatusOr<policy::PolicyTable> table =
      policy::ParsePolicyTable(absl::string_view(text, size));
  if (!table.ok()) return Report(table.status());
  *out = new starling_policy_table{*std::move(table)};
  return STARLING_OK;
}

void starling_policy_table_free(starling_policy_table* table) { delete table; }

const char* starling_verdict_name(starling_verdict verdict) {
  const int value = EnumValue(verdict);
  switch (value) {
    case STARLING_VERDICT_PROCEED_TLS:
    case STARLING_VERDICT_PROCEED_PLAINTEXT:
    case STARLING_VERDICT_DEFER:
    case STARLING_VERDICT_BOUNCE:
    case STARLING_VERDICT_TRY_NEXT_MX:
      // Literals: the view is NUL-terminated.
      return smtp::DeliveryVerdictName(static_cast<smtp::DeliveryVerdict>(value))
          .data();
  }
  return "?";
}

namespace {

// A decision with the strings it points into; the caller holds it as its
// starling_policy_decision base.
struct DecisionStore : starling_policy_decision {
  DecisionStore() : starling_policy_decision{} {}
  std::string sni, label, tlsrpt, message_tlsrpt, explanation;
  std::vector<std::string> trace;
  std::vector<const char*> trace_pointers;
};

void Explain(absl::string_view title, const smtp::PolicyDecision& d,
             std::string* out) {
  absl::StrAppend(out, title, ": ", smtp::DeliveryVerdictName(d.verdict),
                  "\n  label: ", d.label, "\n");
  if (!d.tlsrpt_result_type.empty()) {
    absl::StrAppend(out, "  tls-rpt result: ", d.tlsrpt_result_type, "\n");
  }
  for (const std::string& step : d.trace) absl::StrAppend(out, "  - ", step, "\n");
}

}  // namespace

starling_status starling_policy_judge(const starling_policy_table* table,
                                      const starling_policy_query* q,
                                      starling_policy_decision** out) {
  if (out == nullptr) return Missing("out");
  *out = nullptr;
  if (table == nullptr) return Missing("table");
  if (q == nullptr) return Missing("query");
  absl::StatusOr<DestinationInputs> dest =
      ReadDestination(STARLING_GET(q, destination, nullptr));
  if (!dest.ok()) return Report(dest.status());
  std::optional<TlsFacts> facts;
  if (const starling_tls_facts* tls = STARLING_GET(q, tls, nullptr)) {
    absl::StatusOr<TlsFacts> converted = ToFacts(tls);
    if (!converted.ok()) return Report(converted.status());
    facts = *std::move(converted);
  }
  const int problem = STARLING_GET_ENUM(q, no_tls, STARLING_TLS_NOT_OFFERED);
  if (problem < STARLING_TLS_NOT_OFFERED || problem > STARLING_TLS_NOT_ATTEMPTED) {
    return Report(absl::InvalidArgumentError("unknown TLS problem"));
  }

  const smtp::Destination& destination = dest->destination;
  const policy::PolicyTable::Match match =
      table->table.Find(destination.next_hop_domain);
  policy::PolicyInputs in;
  in.entry = match.entry;
  in.entry_key = match.key;
  in.entry_line = match.line;
  in.dane = dest->dane.has_value() ? &*dest->dane : nullptr;
  in.sts = dest->sts.has_value() ? &*dest->sts : nullptr;
  in.now = ToTime(STARLING_GET(q, now, starling_time{0}));

  auto store = std::make_unique<DecisionStore>();
  starling_policy_decision& d = *store;
  std::string& text = store->explanation;
  absl::StrAppend(&text, "destination: ", destination.next_hop_domain, " via MX ",
                  destination.mx_host, "\nentry: ",
                  policy::PrintEntry(match.key, *match.entry), "\n");
  const smtp::PolicyDecision mx = policy::CheckMx(in, destination);
  Explain("mx check", mx, &text);
  d.mx_verdict = static_cast<starling_verdict>(mx.verdict);
  const smtp::StartTlsIntent intent = policy::DecideStartTls(in, destination);
  d.starttls_attempt = intent.attempt ? 1 : 0;
  d.starttls_mandatory = intent.mandatory ? 1 : 0;
  store->sni = intent.sni;
  absl::StrAppend(&text, "starttls: ", intent.attempt ? "attempt" : "do not attempt",
                  intent.mandatory ? ", mandatory" : ", optional",
                  intent.sni.empty() ? "" : absl::StrCat(", sni ", intent.sni), "\n");
  const policy::ConnectionEvaluation connection =
      facts.has_value()
          ? policy::EvaluateHandshake(in, destination, *facts)
          : policy::EvaluateWithoutTls(in, destination,
                                       static_cast<smtp::TlsProblem>(problem), "");
  Explain("connection", connection.decision, &text);
  d.verdict = static_cast<starling_verdict>(connection.decision.verdict);
  store->label = connection.decision.label;
  store->tlsrpt = connection.decision.tlsrpt_result_type;
  store->trace = connection.decision.trace;

  smtp::MessageTlsFlags flags;
  flags.requiretls = STARLING_GET(q, requiretls, 0) != 0;
  flags.tls_required_no = STARLING_GET(q, tls_required_no, 0) != 0;
  smtp::EhloCapabilities caps;
  caps.starttls = true;
  caps.requiretls = STARLING_GET(q, server_requiretls, 0) != 0;
  const smtp::PolicyDecision message = policy::DecideMessage(
      flags, caps, facts.has_value() ? &*facts : nullptr, connection);
  Explain("message", message, &text);
  d.message_verdict = static_cast<starling_verdict>(message.verdict);
  store->message_tlsrpt = message.tlsrpt_result_type;

  d.sni = store->sni.c_str();
  d.label = store->label.c_str();
  d.tlsrpt_result_type = store->tlsrpt.c_str();
  d.message_tlsrpt_result_type = store->message_tlsrpt.c_str();
  for (const std::string& step : store->trace) {
    store->trace_pointers.push_back(step.c_str());
  }
  d.trace = store->trace_pointers.data();
  d.trace_count = store->trace_pointers.size();
  d.explanation = text.c_str();
  *out = store.release();
  return STARLING_OK;
}

void starling_policy_decision_free(starling_policy_decision* decision) {
  delete static_cast<DecisionStore*>(decision);
}

// ---- client ----------------------------------------------------------------

namespace {

smtp::Mailbox ToMailbox(absl::string_view address) {
  const size_t at = address.rfind('@');
  if (at == absl::string_view::npos) return {std::string(address), ""};
  return {std::string(address.substr(0, at)), std::string(address.substr(at + 1))};
}

absl::StatusOr<smtp::OutboundMessage> ToMessage(const starling_message* m,
                                                size_t index) {
  if (m == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("messages[", index, "] is NULL"));
  }
  smtp::OutboundMessage out;
  const std::string sender = Str(STARLING_GET(m, sender, nullptr));
  if (!sender.empty()) out.sender = ToMailbox(sender);
  const char* const* recipients = STARLING_GET(m, recipients, nullptr);
  const size_t count = STARLING_GET(m, recipient_count, size_t{0});
  if (count > 0 && recipients == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("messages[", index, "].recipients is NULL"));
  }
  for (size_t i = 0; i < count; ++i) {
    out.recipients.push_back({ToMailbox(Str(recipients[i])), {}});
  }
  const void* body = STARLING_GET(m, body, nullptr);
  const size_t body_size = STARLING_GET(m, body_size, size_t{0});
  if (body == nullptr && body_size > 0) {
    return absl::InvalidArgumentError(absl::StrCat("messages[", index, "].body is NULL"));
  }
  out.body = std::make_shared<smtp::StringBodySource>(
      std::string(static_cast<const char*>(body), body_size));
  out.size = body_size;
  switch (STARLING_GET_ENUM(m, body_type, STARLING_BODY_UNSPECIFIED)) {
    case STARLING_BODY_UNSPECIFIED:
    case STARLING_BODY_7BIT: out.body_type = smtp::BodyType::k7Bit; break;
    case STARLING_BODY_8BITMIME: out.body_type = smtp::BodyType::k8BitMime; break;
    case STARLING_BODY_BINARYMIME: out.body_type = smtp::BodyType::kBinaryMime; break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("messages[", index, "].body_type is unknown"));
  }
  out.smtputf8 = STARLING_GET(m, smtputf8, 0) != 0;
  out.tls_flags.requiretls = STARLING_GET(m, requiretls, 0) != 0;
  out.tls_flags.tls_required_no = STARLING_GET(m, tls_required_no, 0) != 0;
  return out;
}

}  // namespace

starling_status starling_client_new(const starling_client_options* o,
                                    const starling_message* const* messages,
                                    size_t count, starling_time now,
                                    starling_client** out) {
  if (out == nullptr) return Missing("out");
  *out = nullptr;
  if (o == nullptr) return Missing("options");
  if (messages == nullptr && count > 0) return Missing("messages");
  absl::StatusOr<DestinationInputs> dest =
      ReadDestination(STARLING_GET(o, destination, nullptr));
  if (!dest.ok()) return Report(dest.status());

  auto options = std::make_shared<smtp::ClientOptions>();
  if (const char* v = STARLING_GET(o, helo_name, nullptr)) options->helo_name = v;
  options->use_pipelining = STARLING_GET(o, no_pipelining, 0) == 0;
  options->prefer_bdat = STARLING_GET(o, prefer_bdat, 0) != 0;
  options->attempt_starttls = STARLING_GET(o, no_starttls, 0) == 0;
  options->auth_username = Str(STARLING_GET(o, auth_username, nullptr));
  options->auth_password = Str(STARLING_GET(o, auth_password, nullptr));
  options->auth_in_plaintext = STARLING_GET(o, auth_in_plaintext, 0) != 0;

  std::vector<smtp::OutboundMessage> outbound;
  for (size_t i = 0; i < count; ++i) {
    absl::StatusOr<smtp::OutboundMessage> message = ToMessage(messages[i], i);
    if (!message.ok()) return Report(message.status());
    outbound.push_back(*std::move(message));
  }

  auto client = std::make_unique<starling_client>();
  smtp::TlsPolicyHook* hook = &client->opportunistic;
  if (const starling_policy_table* table = STARLING_GET(o, policy, nullptr)) {
    policy::DestinationState state;
    if (dest->dane.has_value()) {
      state.dane_by_mx[absl::AsciiStrToLower(dest->destination.mx_host)] = *dest->dane;
    }
    state.sts = dest->sts;
    state.now = ToTime(now);
    client->engine.emplace(&table->table, std::move(state));
    hook = &*client->engine;
  }
  for (const smtp::OutboundMessage& m : outbound) {
    client->messages.push_back(std::make_unique<starling_client::MessageStore>());
    client->recipients.emplace_back(m.recipients.size());
  }

  if (STARLING_GET(o, starling_tls, 0) == 0) {
    absl::StatusOr<std::unique_ptr<smtp::ClientSession>> session =
        smtp::ClientSession::Create(std::move(options), dest->destination, hook,
                                    std::move(outbound), ToTime(now));
    if (!session.ok()) return Report(session.status());
    client->session = *std::move(session);
  } else {
    tls::ChannelOptions channel;
    channel.role = tls::Role::kClient;
    if (const char* ca = STARLING_GET(o, tls_ca_path, nullptr)) {
      absl::StatusOr<std::shared_ptr<const tls::TrustStore>> trust =
          tls::TrustStore::FromPath(ca);
      if (!trust.ok()) return Report(trust.status());
      channel.trust = *std::move(trust);
    }
    if (const char* cert = STARLING_GET(o, tls_cert_file, nullptr)) {
      absl::StatusOr<std::shared_ptr<const tls::Identity>> identity =
          LoadIdentity(cert, STARLING_GET(o, tls_key_file, nullptr),
                       STARLING_GET(o, tls_key_passphrase, nullptr));
      if (!identity.ok()) return Report(identity.status());
      channel.identities.push_back(*std::move(identity));
    }
    channel.rng = MakeRng(STARLING_GET_ENUM(o, tls_rng, STARLING_RNG_SYSTEM),
                          STARLING_GET(o, tls_rng_seed, uint64_t{0}), "client");
    absl::StatusOr<std::unique_ptr<starttls::ClientConnection>> pump =
        starttls::ClientConnection::Create(
            {std::move(options), dest->destination, std::move(channel)}, hook,
            std::move(outbound), ToTime(now));
    if (!pump.ok()) return Report(pump.status());
    client->pump = *std::move(pump);
  }
  *out = client.release();
  return STARLING_OK;
}

void starling_client_free(starling_client* client) { delete client; }

starling_status starling_client_receive(starling_client* c, const void* bytes,
                                        size_t size, starling_time now) {
  if (c == nullptr) return Missing("client");
  if (bytes == nullptr && size > 0) return Missing("bytes");
  const absl::string_view in(static_cast<const char*>(bytes), size);
  return Report(c->pump ? c->pump->ReceiveWire(in, ToTime(now))
                        : c->session->Receive(in, ToTime(now)));
}

const starling_client_event* starling_client_next_event(starling_client* c) {
  if (c == nullptr) return nullptr;
  std::optional<smtp::ClientEvent> next =
      c->pump ? c->pump->NextEvent() : c->session->NextEvent();
  if (!next.has_value()) return nullptr;
  c->source = *std::move(next);
  starling_client_event& e = c->event;
  e = starling_client_event{};
  switch (c->source.type) {
    case smtp::ClientEventType::kStartTls: e.type = STARLING_CLIENT_STARTTLS; break;
    case smtp::ClientEventType::kMessageDone: e.type = STARLING_CLIENT_MESSAGE_DONE; break;
    case smtp::ClientEventType::kClosed: e.type = STARLING_CLIENT_CLOSED; break;
  }
  e.message = c->source.message;
  e.sni = View(c->source.sni);
  e.reason = View(c->source.reason);
  return &e;
}

starling_bytes starling_client_pending_output(const starling_client* c) {
  if (c == nullptr) return {"", 0};
  return View(c->pump ? c->pump->PendingWire() : c->session->PendingOutput());
}

void starling_client_consume_output(starling_client* c, size_t size,
                                    starling_time now) {
  if (c == nullptr) return;
  if (c->pump) {
    c->pump->ConsumeWire(size, ToTime(now));
  } else {
    c->session->ConsumeOutput(size, ToTime(now));
  }
}

starling_time starling_client_next_deadline(const starling_client* c) {
  if (c == nullptr) return STARLING_TIME_NEVER;
  return FromTime(c->pump ? c->pump->NextDeadline() : c->session->NextDeadline());
}

starling_status starling_client_on_timeout(starling_client* c,
                                           starling_time now) {
  if (c == nullptr) return Missing("client");
  return Report(c->pump ? c->pump->OnTimeout(ToTime(now))
                        : c->session->OnTimeout(ToTime(now)));
}

starling_status starling_client_tls_established(starling_client* c,
                                                const starling_tls_facts* facts,
                                                starling_time now) {
  if (c == nullptr) return Missing("client");
  if (c->pump) {
    return Report(absl::FailedPreconditionError(
        "Starling runs this client's TLS (starling_tls): nothing to report"));
  }
  absl::StatusOr<TlsFacts> converted = ToFacts(facts);
  if (!converted.ok()) return Report(converted.status());
  return Report(c->session->TlsEstablished(*std::move(converted), ToTime(now)));
}

starling_status starling_client_tls_failed(starling_client* c,
                                           const char* reason,
                                           starling_time now) {
  if (c == nullptr) return Missing("client");
  if (c->pump) {
    return Report(absl::FailedPreconditionError(
        "Starling runs this client's TLS (starling_tls): nothing to report"));
  }
  return Report(c->session->TlsFailed(Str(reason), ToTime(now)));
}

void starling_client_connection_lost(starling_client* c, const char* reason,
                                     starling_time now) {
  if (c == nullptr) return;
  if (c->pump) {
    c->pump->ConnectionLost(Str(reason), ToTime(now));
  } else {
    c->session->ConnectionLost(Str(reason), ToTime(now));
  }
}

int starling_client_finished(const starling_client* c) {
  if (c == nullptr) return 1;
  return (c->pump ? c->pump->finished() : c->session->closed()) ? 1 : 0;
}

const starling_message_result* starling_client_message_result(
    starling_client* c, size_t message) {
  if (c == nullptr || message >= c->messages.size()) return nullptr;
  const smtp::MessageResult& r = c->Session().results()[message];
  starling_client::MessageStore& s = *c->messages[message];
  s.label = r.policy.label;
  s.tlsrpt = r.policy.tlsrpt_result_type;
  s.result.done = r.done ? 1 : 0;
  s.result.recipient_count = r.recipients.size();
  s.result.over_tls = r.tls != nullptr ? 1 : 0;
  s.result.policy_verdict = static_cast<starling_verdict>(r.policy.verdict);
  s.result.policy_label = s.label.c_str();
  s.result.tlsrpt_result_type = s.tlsrpt.c_str();
  return &s.result;
}

const starling_recipient_result* starling_client_recipient_result(
    starling_client* c, size_t message, size_t recipient) {
  if (c == nullptr || message >= c->recipients.size() ||
      recipient >= c->recipients[message].size()) {
    return nullptr;
  }
  const smtp::RecipientResult& r =
      c->Session().results()[message].recipients[recipient];
  std::unique_ptr<starling_client::RecipientStore>& slot =
      c->recipients[message][recipient];
  if (slot == nullptr) slot = std::make_unique<starling_client::RecipientStore>();
  starling_client::RecipientStore& s = *slot;
  s.mailbox = r.mailbox.ToString();
  s.stage = std::string(smtp::ClientStageName(r.stage));
  s.enhanced = r.reply.enhanced.has_value() ? r.reply.enhanced->ToString() : "";
  s.text = absl::StrJoin(r.reply.lines, "\n");
  s.detail = r.detail;
  s.result.status = static_cast<starling_recipient_status>(r.status);
  s.result.mailbox = s.mailbox.c_str();
  s.result.stage = s.stage.c_str();
  s.result.reply_code = r.reply.code;
  s.result.reply_enhanced = s.enhanced.c_str();
  s.result.reply_text = s.text.c_str();
  s.result.detail = s.detail.c_str();
  return &s.result;
}

const starling_tls_info* starling_client_tls(starling_client* c) {
  if (c == nullptr) return nullptr;
  return DescribeTls(c->Session().tls(), &c->tls);
}

const char* starling_client_fatal_reason(const starling_client* c) {
  if (c == nullptr) return "";
  c->fatal_reason = std::string(smtp::SessionErrorName(c->Session().fatal_reason()));
  return c->fatal_reason.c_str();
}
