#include "tools/send/route.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tools/io/outbound.h"

namespace starling::send {
namespace {

// Why an address answer gave nothing to connect to, or "" when it did.
std::string AddressProblem(absl::string_view type,
                           const net::DnsAnswer<std::string>& answer) {
  if (answer.dnssec == policy::DnssecStatus::kBogus) {
    return absl::StrCat(type, " DNSSEC-bogus (", answer.detail, ")");
  }
  if (answer.outcome == net::DnsOutcome::kAnswer && !answer.records.empty()) {
    return "";
  }
  std::string problem = absl::StrCat(type, " ", net::DnsOutcomeName(answer.outcome));
  if (!answer.detail.empty()) absl::StrAppend(&problem, " (", answer.detail, ")");
  return problem;
}

}  // namespace

absl::StatusOr<ConnectOverrides> ParseConnectOverrides(
    asio::io_context& context, const std::vector<std::string>& specs,
    uint16_t port) {
  ConnectOverrides overrides;
  if (port == 0) return absl::InvalidArgumentError("--port: 0 cannot be connected to");
  overrides.port = port;
  for (const std::string& spec : specs) {
    const size_t equals = spec.find('=');
    const std::string target =
        equals == std::string::npos ? spec : spec.substr(equals + 1);
    absl::StatusOr<std::vector<asio::ip::tcp::endpoint>> endpoints =
        io::ResolveHostPort(context, target);
    if (!endpoints.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--connect ", spec, ": ", endpoints.status().message()));
    }
    std::vector<asio::ip::tcp::endpoint>& into =
        equals == std::string::npos
            ? overrides.every_mx
            : overrides.by_mx[absl::AsciiStrToLower(spec.substr(0, equals))];
    into.insert(into.end(), endpoints->begin(), endpoints->end());
  }
  return overrides;
}

std::vector<MxRoute> RoutesFor(const net::DestinationResolution& r,
                               const ConnectOverrides& connect) {
  std::vector<MxRoute> routes;
  for (const net::MxHost& host : r.hosts) {
    MxRoute route;
    route.host = &host;
    if (auto it = connect.by_mx.find(host.host); it != connect.by_mx.end()) {
      route.endpoints = it->second;
      route.overridden = true;
    } else if (!connect.every_mx.empty()) {
      route.endpoints = connect.every_mx;
      route.overridden = true;
    } else {
      std::vector<std::string> problems;
      for (const auto& [type, answer] :
           {std::pair<absl::string_view, const net::DnsAnswer<std::string>*>{"A", &host.a},
            {"AAAA", &host.aaaa}}) {
        const std::string problem = AddressProblem(type, *answer);
        if (!problem.empty()) {
          problems.push_back(problem);
          continue;
        }
        for (const std::string& address : answer->records) {
          asio::error_code error;
          const asio::ip::address ip = asio::ip::make_address(address, error);
          if (!error) route.endpoints.emplace_back(ip, connect.port);
        }
      }
      if (route.endpoints.empty()) {
        route.problem = absl::StrCat("no address to connect to: ",
                                     absl::StrJoin(problems, ", "));
      }
    }
    routes.push_back(std::move(route));
  }
  return routes;
}

size_t LastMxToTry(const std::vector<MxRoute>& routes) {
  size_t last = routes.size();
  for (size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].endpoints.empty()) last = i;
  }
  return last;
}

}  // namespace starling::send
