#ifndef STARLING_TOOLS_PROBE_PROBE_H_
#define STARLING_TOOLS_PROBE_PROBE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "asio.hpp"
#include "core/policy/dane.h"
#include "core/policy/hook.h"
#include "core/policy/table.h"
#include "core/smtp/capabilities.h"
#include "core/smtp/client_session.h"
#include "core/smtp/tls_policy_hook.h"
#include "core/tls/channel.h"
#include "core/tlsfacts/tls_facts.h"
#include "tools/net/destination.h"
#include "tools/send/route.h"

namespace starling::probe {

// starling-probe's work (posttls-finger class): connect once to every
// address of every MX host of a domain with a client session that stops
// before MAIL FROM, record what the server showed, and let the policy engine
// judge those facts at each level. Judging needs no further connection:
// the engine decides over data (DANE and MTA-STS state, EHLO, TLS facts).

// One line of the SMTP dialogue.
struct TranscriptLine {
  bool sent = false;  // by the probe (else by the server)
  bool tls = false;   // inside TLS
  std::string text;
};

// What one connection to one address showed.
struct Observation {
  asio::ip::tcp::endpoint address;
  asio::ip::tcp::endpoint local;
  bool connected = false;
  std::string end;  // how the connection ended (the error when it failed)
  // The first EHLO reply; empty capabilities with an empty `domain` when
  // EHLO was refused (the session went on with HELO). Unset: the session
  // ended before (greeting refused, connection lost).
  std::optional<smtp::EhloCapabilities> ehlo;
  // Why there is no TLS, when STARTTLS was not offered or failed.
  std::optional<smtp::TlsProblem> tls_problem;
  std::string tls_problem_detail;
  std::optional<TlsFacts> tls;                           // the handshake's facts
  std::optional<smtp::EhloCapabilities> ehlo_over_tls;  // the EHLO reply after it
  std::string sni;
  std::vector<TranscriptLine> transcript;
  absl::Duration elapsed;
};

// A policy table to judge with, by name ("may", ..., "sts", or "table").
struct NamedTable {
  std::string name;
  std::shared_ptr<const policy::PolicyTable> table;
};

// The tables of the six levels starling-probe reports: may, encrypt,
// verify, secure and dane as `* <level> mta-sts=no` (each mechanism on its
// own), and sts as `* may` with the destination's MTA-STS policy honoured.
std::vector<NamedTable> LevelTables();

// The table the probe's TLS-RPT report is judged by when no policy table is
// given: `* dane` with MTA-STS honoured (DANE where published, else
// MTA-STS, else opportunistic TLS).
NamedTable ReportTable();

// What the policy engine made of one observation under one table.
struct Judgement {
  std::string table;             // NamedTable::name
  smtp::PolicyDecision before;   // BeforeConnect: may this MX be used?
  // After EHLO and the handshake (or without TLS); unset when `before`
  // refused or there was no session to judge (`no_session` says why).
  std::optional<smtp::PolicyDecision> decision;
  std::string no_session;
  // Where TLS was optional and the handshake failed, starling-send tries the
  // host again at once without STARTTLS (as Postfix does): that decision.
  std::optional<smtp::PolicyDecision> plaintext_retry;
  // From the engine's evaluation: what TLS-RPT reports, and the check that
  // decided a refusal.
  std::string reported_result_type;
  std::string first_failure;

  // The decision that counts: the retry's, else the session's, else
  // BeforeConnect's.
  const smtp::PolicyDecision& Final() const;
};

// Judges `observation` (null: there was no address to connect to) the way
// a client session under `table` would have met it: BeforeConnect, the
// STARTTLS intent after EHLO, then AfterHandshake or WithoutTls.
Judgement Judge(const NamedTable& table, const policy::DestinationState& state,
                const smtp::Destination& destination,
                const Observation* observation);

struct AddressProbe {
  Observation observation;
  std::vector<Judgement> judgements;  // one per table
  // DANE authentication of the session with the host's usable TLSA records
  // (RFC 7672), when there are such records and a handshake.
  std::optional<policy::DaneMatch> dane;
};

struct MxProbe {
  net::MxHost host;
  bool last_mx = false;  // the last host a sender would try (send::LastMxToTry)
  bool overridden = false;  // connected where --connect said, not to DNS's addresses
  std::vector<AddressProbe> addresses;
  std::string no_address;             // why `addresses` is empty
  std::vector<Judgement> judgements;  // when `addresses` is empty
};

struct ProbeSettings {
  std::vector<NamedTable> tables;  // judged, in this order
  // The table whose entry sets the probe's own SNI and TLS protocol range.
  NamedTable connection_table;
  smtp::ClientOptions smtp;
  tls::ChannelOptions tls;  // trust for chain verdicts, an RNG
  absl::Duration connect_timeout = absl::Seconds(10);
};

struct ProbeReport {
  net::DestinationResolution resolution;
  absl::Time now;
  policy::DestinationState state;  // what the engine was told
  std::vector<MxProbe> mx;
};

// Probes the domain `resolution` describes: every address of every MX host
// (or where `connect` sends them), one connection each, in order.
ProbeReport Probe(asio::io_context& context,
                  net::DestinationResolution resolution,
                  const send::ConnectOverrides& connect,
                  const ProbeSettings& settings, absl::Time now);

}  // namespace starling::probe

#endif  // STARLING_TOOLS_PROBE_PROBE_H_
