#include "tools/sink/zoo.h"

#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "botan/pem.h"
#include "botan/pkcs8.h"
#include "botan/x509cert.h"
#include "core/tls/facts.h"
#include "core/tls/rng.h"
#include "tools/io/inbound.h"

namespace starling::sink {
namespace {

using sim::PartnerProfile;

class ZooHandler : public io::InboundHandler {
 public:
  ZooHandler(PartnerProfile profile, std::shared_ptr<sim::PartnerState> state,
             absl::Duration tarpit_delay, std::shared_ptr<Log> log)
      : profile_(profile),
        state_(std::move(state)),
        tarpit_delay_(tarpit_delay),
        log_(std::move(log)),
        name_(absl::StrCat("zoo[", sim::PartnerProfileName(profile), "]")),
        dialogue_(profile, state_.get(),
                  [this](absl::string_view what, const absl::Status& status) {
                    if (!status.ok()) {
                      log_->Line(absl::StrCat(name_, ": ", what, ": ",
                                              status.message()));
                    }
                  }) {}

  void OnOpen(const asio::ip::tcp::endpoint& peer,
              const asio::ip::tcp::endpoint&) override {
    log_->Line(absl::StrCat(name_, ": connect from ",
                            peer.address().to_string(), ":", peer.port()));
  }
  bool OnEvent(smtp::ServerEvent& event, starttls::ServerConnection& connection,
               absl::Time now) override {
    const bool complete = event.type == smtp::ServerEventType::kMessageComplete;
    const size_t before = state_->accepted_messages();
    const bool keep = dialogue_.Handle(event, connection, now);
    if (complete && state_->accepted_messages() != before) {
      log_->Line(absl::StrCat(name_, ": message accepted",
                              keep ? "" : ", dropping the connection before the reply"));
    } else if (!keep) {
      log_->Line(absl::StrCat(name_, ": dropping the connection"));
    }
    return keep;
  }
  void OnClosed(const starttls::ServerConnection& connection,
                absl::string_view reason) override {
    std::string tls = "plaintext";
    if (const TlsFacts* facts = connection.session().tls(); facts != nullptr) {
      tls = absl::StrCat("TLS ", facts->cipher_suite);
    } else if (connection.tls_failure().has_value()) {
      tls = absl::StrCat("TLS failed: ", connection.tls_failure()->detail);
    }
    log_->Line(absl::StrCat(name_, ": disconnect, ", tls, " (", reason, ")"));
  }
  absl::Duration WriteDelay() const override {
    return profile_ == PartnerProfile::kTarpit ? tarpit_delay_
                                               : absl::ZeroDuration();
  }

 private:
  PartnerProfile profile_;
  std::shared_ptr<sim::PartnerState> state_;
  absl::Duration tarpit_delay_;
  std::shared_ptr<Log> log_;
  std::string name_;
  sim::PartnerDialogue dialogue_;
};

absl::Status WriteFile(const std::string& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out.close();
  if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

std::string Pem(const std::string& der, const char* label) {
  return Botan::PEM_Code::encode(
      reinterpret_cast<const uint8_t*>(der.data()), der.size(), label);
}

}  // namespace

absl::StatusOr<std::vector<ZooProfile>> ParseZooProfiles(
    const std::vector<std::string>& specs,
    const asio::ip::address& default_address) {
  std::vector<ZooProfile> profiles;
  for (const std::string& spec : specs) {
    const size_t equals = spec.find('=');
    const std::string name = spec.substr(0, equals);
    asio::ip::tcp::endpoint address(default_address, 0);
    if (equals != std::string::npos) {
      absl::StatusOr<asio::ip::tcp::endpoint> parsed =
          io::ParseEndpoint(spec.substr(equals + 1));
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--zoo ", spec, ": ", parsed.status().message()));
      }
      address = *parsed;
    }
    if (name == "all") {
      if (equals != std::string::npos) {
        return absl::InvalidArgumentError(
            "--zoo all takes no address (every profile gets a kernel port)");
      }
      for (PartnerProfile profile : sim::AllPartnerProfiles()) {
        profiles.push_back({profile, address});
      }
      continue;
    }
    absl::StatusOr<PartnerProfile> profile = sim::ParsePartnerProfile(name);
    if (!profile.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--zoo: ", profile.status().message()));
    }
    profiles.push_back({*profile, address});
  }
  return profiles;
}

std::vector<io::Listener> ZooListeners(const ZooConfig& config) {
  auto state = std::make_shared<sim::PartnerState>(/*keep_messages=*/false);
  std::vector<io::Listener> listeners;
  for (const ZooProfile& zoo : config.profiles) {
    io::Listener listener;
    listener.address = zoo.address;
    listener.smtp =
        sim::PartnerServerOptions(zoo.profile, config.pki->host_name());
    const PartnerProfile profile = zoo.profile;
    std::shared_ptr<const tls::testing::TestPki> pki = config.pki;
    listener.tls = [profile, pki]() -> std::optional<tls::ChannelOptions> {
      return sim::PartnerChannelOptions(profile, *pki,
                                        sim::PartnerCertKind(profile),
                                        tls::SystemRng());
    };
    const absl::Duration tarpit = config.tarpit_delay;
    std::shared_ptr<Log> log = config.log;
    listener.handler = [profile, state, tarpit, log] {
      return std::make_unique<ZooHandler>(profile, state, tarpit, log);
    };
    listeners.push_back(std::move(listener));
  }
  return listeners;
}

absl::Status WriteZooPki(const tls::testing::TestPki& pki,
                         const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot create ", dir, ": ", error.message()));
  }
  const std::string anchors =
      absl::StrCat(Pem(pki.root_der(), "CERTIFICATE"),
                   Pem(pki.old_root_der(), "CERTIFICATE"),
                   Pem(pki.new_root_der(), "CERTIFICATE"));
  const std::string crl = Pem(pki.crl_der(), "X509 CRL");
  if (absl::Status s = WriteFile(dir + "/ca.pem", anchors); !s.ok()) return s;
  if (absl::Status s = WriteFile(dir + "/crl.pem", crl); !s.ok()) return s;
  if (absl::Status s = WriteFile(dir + "/trust.pem", anchors + crl); !s.ok()) {
    return s;
  }
  for (tls::testing::CertKind kind : tls::testing::AllCertKinds()) {
    const tls::Identity& identity = *pki.identity(kind);
    std::string chain;
    for (const std::string& der : identity.ChainDer()) {
      absl::StrAppend(&chain, Pem(der, "CERTIFICATE"));
    }
    const std::string name(tls::testing::CertKindName(kind));
    if (kind == tls::testing::CertKind::kClient) {
      if (absl::Status s = WriteFile(dir + "/client.pem", chain); !s.ok()) {
        return s;
      }
      if (absl::Status s = WriteFile(dir + "/client-key.pem",
                                     Botan::PKCS8::PEM_encode(identity.key()));
          !s.ok()) {
        return s;
      }
      continue;
    }
    if (absl::Status s = WriteFile(absl::StrCat(dir, "/", name, ".pem"), chain);
        !s.ok()) {
      return s;
    }
    // The DANE-EE record (3 1 1) that pins this leaf's key.
    absl::StatusOr<CertificateFacts> leaf =
        tls::DescribeCertificateDer(identity.ChainDer().front());
    if (!leaf.ok()) return leaf.status();
    if (absl::Status s =
            WriteFile(absl::StrCat(dir, "/", name, ".tlsa"),
                      absl::StrCat("3 1 1 ", absl::BytesToHexString(
                                                 leaf->spki_sha256), "\n"));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace starling::sink
