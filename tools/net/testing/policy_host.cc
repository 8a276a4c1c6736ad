#include "tools/net/testing/policy_host.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tools/net/testing/test_ca.h"

namespace starling::net::testing {
namespace {

constexpr char kPython[] = "/usr/bin/python3";

// Written to a temporary name and renamed: the server re-reads the
// responses file on every request and must never see half of it.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view text) {
  const std::string temporary = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename to ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string PolicyHost::MissingTool() {
  if (FindProgram("python3") != kPython) return kPython;
  if (FindProgram("openssl").empty()) return "openssl";
  return "";
}

absl::StatusOr<std::unique_ptr<PolicyHost>> PolicyHost::Start(
    const std::string& dir, const std::vector<PolicyDomain>& domains) {
  if (std::string missing = MissingTool(); !missing.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(missing, " is not installed"));
  }
  absl::StatusOr<std::string> script =
      tools::testing::RunfilePath("tools/net/testing/policy_host.py");
  if (!script.ok()) return script.status();
  std::unique_ptr<PolicyHost> host(new PolicyHost(dir));
  if (absl::Status s = MakeTestCa(dir, "ca", "/CN=Starling Test CA"); !s.ok()) return s;
  if (absl::Status s = MakeTestCa(dir, "other-ca", "/CN=Untrusted Test CA"); !s.ok()) {
    return s;
  }
  // The default certificate names every kValid host (and one name of its
  // own, so that it is never empty); kWrongName hosts get it too.
  std::vector<std::string> valid_names = {"policy-host.invalid"};
  std::vector<std::string> untrusted_names;
  for (const PolicyDomain& d : domains) {
    const std::string name = absl::StrCat("mta-sts.", d.domain);
    if (d.certificate == HostCertificate::kValid) valid_names.push_back(name);
    if (d.certificate == HostCertificate::kUntrustedCa) untrusted_names.push_back(name);
    host->responses_[d.domain] = d.response;
  }
  if (absl::Status s = MakeServerCertificate(dir, "host", "ca", valid_names, 2);
      !s.ok()) {
    return s;
  }
  nlohmann::json sni = nlohmann::json::object();
  if (!untrusted_names.empty()) {
    if (absl::Status s = MakeServerCertificate(dir, "untrusted-host", "other-ca",
                                             untrusted_names, 3);
        !s.ok()) {
      return s;
    }
    for (const std::string& name : untrusted_names) {
      sni[name] = {dir + "/untrusted-host.pem", dir + "/untrusted-host.key"};
    }
  }
  host->ca_file_ = dir + "/ca.pem";
  if (absl::Status s = host->WriteResponses(); !s.ok()) return s;
  const nlohmann::json config = {{"cert", dir + "/host.pem"},
                                 {"key", dir + "/host.key"},
                                 {"sni", sni},
                                 {"responses", dir + "/responses.json"}};
  const std::string config_file = dir + "/policy-host.json";
  if (absl::Status s = WriteFileAtomically(config_file, config.dump(2)); !s.ok()) {
    return s;
  }
  absl::StatusOr<ChildProcess> server =
      ChildProcess::Start({kPython, *script, config_file}, dir,
                          dir + "/policy-host.log", /*pipe_stdout=*/true);
  if (!server.ok()) return server.status();
  host->server_ = *std::move(server);
  absl::StatusOr<std::string> port_line = host->server_.ReadLine(absl::Seconds(10));
  int port = 0;
  if (!port_line.ok() || !absl::SimpleAtoi(*port_line, &port) || port <= 0 ||
      port > 65535) {
    std::ifstream log(dir + "/policy-host.log");
    std::string text((std::istreambuf_iterator<char>(log)),
                     std::istreambuf_iterator<char>());
    return absl::UnavailableError(
        absl::StrCat("the policy host did not start: ",
                     port_line.ok() ? *port_line : port_line.status().ToString(),
                     "; log: ", text));
  }
  host->port_ = static_cast<uint16_t>(port);
  return host;
}

PolicyHost::~PolicyHost() { server_.Stop(); }

absl::Status PolicyHost::SetResponse(absl::string_view domain,
                                     PolicyResponse response) {
  responses_[std::string(domain)] = std::move(response);
  return WriteResponses();
}

std::string PolicyHost::connect_to() const {
  return absl::StrCat("::127.0.0.1:", port_);
}

absl::Status PolicyHost::WriteResponses() {
  nlohmann::json responses = nlohmann::json::object();
  for (const auto& [domain, r] : responses_) {
    responses[absl::StrCat("mta-sts.", domain)] = {
        {"status", r.status},     {"content_type", r.content_type},
        {"body", r.body},         {"padding", r.padding},
        {"location", r.location}};
  }
  return WriteFileAtomically(dir_ + "/responses.json", responses.dump(2));
}

}  // namespace starling::net::testing
