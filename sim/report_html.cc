#include "sim/report_html.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/smtp/client_session.h"
#include "sim/sender.h"

namespace starling::sim {
namespace {

std::string Escape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// "10:00" within a world of a day or less, else "03-02 10:00" (UTC).
std::string ClockText(absl::Time t, absl::Duration span) {
  return absl::FormatTime(span <= absl::Hours(24) ? "%H:%M" : "%m-%d %H:%M", t,
                          absl::UTCTimeZone());
}

std::string Labels(const OutcomeCounts& c) {
  std::string out = absl::StrCat(c.tls);
  if (c.tls_by_label.empty()) return out;
  std::vector<std::string> labels;
  for (const auto& [label, n] : c.tls_by_label) {
    labels.push_back(absl::StrCat(label, " ", n));
  }
  return absl::StrCat(out, " (", absl::StrJoin(labels, ", "), ")");
}

// "3 over TLS (verify:verified 3)".
std::string OverTls(const OutcomeCounts& c) {
  std::string out = Labels(c);
  const size_t space = out.find(' ');
  out.insert(space == std::string::npos ? out.size() : space, " over TLS");
  return out;
}

// What one recipient was at a point of virtual time.
enum class State : uint8_t { kWaiting, kTls, kPlaintext, kDeferred, kBounced };

// Each recipient's states over time, from the attempt log and the bounces:
// (time, state) in time order.
using Timeline = std::vector<std::pair<absl::Time, State>>;

std::map<std::pair<uint64_t, std::string>, Timeline> Timelines(
    const WorldResult& result, const std::string& domain) {
  std::map<std::pair<uint64_t, std::string>, Timeline> out;
  for (const WorldRecipient& r : result.recipients) {
    if (r.domain == domain) {
      out[{r.message, r.address}].push_back({r.queued_at, State::kWaiting});
    }
  }
  for (const AttemptRecord& a : result.attempts) {
    if (a.domain != domain) continue;
    for (const AttemptRecipient& r : a.recipients) {
      auto it = out.find({r.message, r.result.mailbox.ToString()});
      if (it == out.end()) continue;
      State state = State::kDeferred;
      switch (r.result.status) {
        case smtp::RecipientStatus::kDelivered:
          state = a.tls ? State::kTls : State::kPlaintext;
          break;
        case smtp::RecipientStatus::kPermFailed:
          state = State::kBounced;
          break;
        case smtp::RecipientStatus::kTempFailed:
        case smtp::RecipientStatus::kPending:
          break;
      }
      it->second.push_back({a.end, state});
    }
  }
  for (const BounceRecord& b : result.bounces) {
    auto it = out.find({b.message, b.recipient.ToString()});
    if (it != out.end()) it->second.push_back({b.time, State::kBounced});
  }
  for (auto& [key, timeline] : out) {
    std::stable_sort(timeline.begin(), timeline.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
  }
  return out;
}

constexpr int kWidth = 780;
constexpr int kHeight = 210;
constexpr int kLeft = 48;
constexpr int kRight = 740;
constexpr int kTop = 28;
constexpr int kBottom = 175;
constexpr int kSamples = 240;

struct SeriesStyle {
  const char* name;
  const char* label;
  const char* color;
  State state;
};
constexpr SeriesStyle kStyles[] = {
    {"tls", "delivered over TLS", "#1b7f3b", State::kTls},
    {"plaintext", "delivered in plaintext", "#d97706", State::kPlaintext},
    {"deferred", "deferred now", "#b91c1c", State::kDeferred},
    {"bounced", "bounced", "#374151", State::kBounced},
};

// The timeline of one domain as an SVG: counts of recipients in each state
// at kSamples points of [start, end] (delivered and bounced accumulate;
// deferred is the number waiting after a temporary failure), faults as
// vertical dashed lines.
std::string TimelineSvg(const Scenario& scenario, const WorldResult& result,
                        const DomainSummary& d) {
  const absl::Time start = result.start;
  const absl::Time end = std::max(result.end, start + absl::Seconds(1));
  const absl::Duration span = end - start;
  const auto timelines = Timelines(result, d.domain);
  std::vector<std::vector<int64_t>> counts(std::size(kStyles),
                                           std::vector<int64_t>(kSamples + 1));
  int64_t top = 1;
  for (int i = 0; i <= kSamples; ++i) {
    const absl::Time t = start + span * i / kSamples;
    for (const auto& [key, timeline] : timelines) {
      State state = State::kWaiting;
      bool queued = false;
      for (const auto& [time, s] : timeline) {
        if (time > t) break;
        state = s;
        queued = true;
      }
      if (!queued) continue;
      for (size_t k = 0; k < std::size(kStyles); ++k) {
        if (kStyles[k].state == state) ++counts[k][i];
      }
    }
    for (const auto& series : counts) top = std::max(top, series[i]);
  }
  auto x = [&](absl::Time t) {
    return kLeft + static_cast<double>(kRight - kLeft) *
                       absl::FDivDuration(t - start, span);
  };
  auto y = [&](int64_t n) {
    return kBottom - static_cast<double>(kBottom - kTop) * n / top;
  };
  std::string svg = absl::StrFormat(
      "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" "
      "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" "
      "aria-label=\"%s over virtual time\">\n",
      kWidth, kHeight, kWidth, kHeight, Escape(d.domain));
  // Axes, hour (or day) ticks, the top count.
  absl::StrAppendFormat(&svg,
                        "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" "
                        "y2=\"%d\"/><line class=\"axis\" x1=\"%d\" y1=\"%d\" "
                        "x2=\"%d\" y2=\"%d\"/>\n",
                        kLeft, kBottom, kRight, kBottom, kLeft, kTop, kLeft,
                        kBottom);
  const absl::Duration tick =
      span <= absl::Hours(6)    ? absl::Hours(1)
      : span <= absl::Hours(48) ? absl::Hours(2)
                                : absl::Hours(24);
  for (absl::Time t = start; t <= end; t += tick) {
    absl::StrAppendFormat(&svg,
                          "<text class=\"tick\" x=\"%.1f\" y=\"%d\" "
                          "text-anchor=\"middle\">%s</text>\n",
                          x(t), kBottom + 14, ClockText(t, span));
  }
  absl::StrAppendFormat(&svg,
                        "<text class=\"tick\" x=\"%d\" y=\"%d\" "
                        "text-anchor=\"end\">%d</text><text class=\"tick\" "
                        "x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n",
                        kLeft - 4, kTop + 4, top, kLeft - 4, kBottom);
  // Faults on the domain's hosts.
  const ScenarioDomain* declared = scenario.FindDomain(d.domain);
  for (const ScenarioFault& fault : scenario.faults) {
    bool ours = false;
    for (const ScenarioMx& mx :
         declared == nullptr ? std::vector<ScenarioMx>() : declared->mx) {
      ours |= mx.host == fault.host;
    }
    if (!ours) continue;
    const std::string what = absl::StrCat(
        fault.host, " ", ScenarioFaultKindName(fault.kind), " at ",
        ClockText(start + fault.at, span),
        fault.kind == ScenarioFaultKind::kStall
            ? absl::StrCat(" for ", absl::FormatDuration(fault.duration))
            : "");
    const double fx = x(start + fault.at);
    if (fault.kind == ScenarioFaultKind::kStall) {
      absl::StrAppendFormat(
          &svg,
          "<rect class=\"stall\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" "
          "height=\"%d\"/>\n",
          fx, kTop, std::max(1.0, x(start + fault.at + fault.duration) - fx),
          kBottom - kTop);
    }
    absl::StrAppendFormat(
        &svg,
        "<line class=\"fault\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\">"
        "<title>%s</title></line><text class=\"fault-label\" x=\"%.1f\" "
        "y=\"%d\">%s</text>\n",
        fx, kTop - 6, fx, kBottom, Escape(what), fx + 3, kTop - 8,
        Escape(absl::StrCat(ScenarioFaultKindName(fault.kind), " ",
                            ClockText(start + fault.at, span))));
  }
  // One step line per outcome.
  for (size_t k = 0; k < std::size(kStyles); ++k) {
    // A step line: a point where the count changes (two: the old and the
    // new height), and the ends.
    std::string points;
    for (int i = 0; i <= kSamples; ++i) {
      const double xi = x(start + span * i / kSamples);
      if (i > 0 && i < kSamples && counts[k][i] == counts[k][i - 1]) continue;
      if (i > 0) {
        absl::StrAppendFormat(&points, " %.1f,%.1f", xi, y(counts[k][i - 1]));
      }
      absl::StrAppendFormat(&points, " %.1f,%.1f", xi, y(counts[k][i]));
    }
    absl::StrAppendFormat(
        &svg,
        "<polyline class=\"series series-%s\" fill=\"none\" stroke=\"%s\" "
        "stroke-width=\"2\" points=\"%s\"><title>%s: %d at the end</title>"
        "</polyline>\n",
        kStyles[k].name, kStyles[k].color, points.substr(1), kStyles[k].label,
        counts[k][kSamples]);
  }
  // Legend.
  for (size_t k = 0; k < std::size(kStyles); ++k) {
    const int lx = kLeft + 8 + static_cast<int>(k) * 160;
    absl::StrAppendFormat(
        &svg,
        "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/>"
        "<text class=\"legend\" x=\"%d\" y=\"%d\">%s</text>\n",
        lx, kHeight - 14, kStyles[k].color, lx + 14, kHeight - 5,
        kStyles[k].label);
  }
  svg += "</svg>\n";
  return svg;
}

constexpr absl::string_view kStyle = R"css(
body { font-family: system-ui, sans-serif; margin: 2em; color: #111; max-width: 80em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; } h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
td.n { text-align: right; }
.meta, .rule { color: #444; }
.warning { color: #92400e; } .violation { color: #b91c1c; font-weight: bold; }
ul.why { margin: .2em 0 .5em 1.2em; padding: 0; }
code { font-size: .95em; }
svg.timeline { display: block; margin: .3em 0 1em 0; }
svg .axis { stroke: #555; stroke-width: 1; }
svg .tick, svg .legend, svg .fault-label { font-size: 10px; fill: #333; }
svg .fault { stroke: #7c3aed; stroke-width: 1.5; stroke-dasharray: 4 3; }
svg .fault-label { fill: #7c3aed; }
svg .stall { fill: #7c3aed; fill-opacity: .08; }
)css";

void DomainRow(const DomainSummary& d, std::string* out) {
  absl::StrAppend(
      out, "<tr><td><a href=\"#d-", Escape(d.domain), "\">", Escape(d.domain),
      "</a></td><td>", Escape(d.profiles), "</td><td><code>",
      Escape(d.policy), "</code></td><td class=\"n\">", Escape(Labels(d)),
      "</td><td class=\"n\">", d.plaintext, "</td><td class=\"n\">", d.deferred,
      "</td><td class=\"n\">", d.bounced, "</td><td>",
      Escape(d.tlsrpt_result_types.empty()
                 ? "-"
                 : absl::StrJoin(d.tlsrpt_result_types, ", ")),
      "</td></tr>\n");
}

}  // namespace

std::string ReportHtml(const Scenario& scenario, const WorldResult& result) {
  const absl::Duration span = result.end - result.start;
  std::string out = absl::StrCat(
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<title>mtasim report: ",
      Escape(scenario.sender.hostname), " ", Rfc3339(result.start),
      "</title>\n<style>", kStyle, "</style>\n</head>\n<body>\n",
      "<h1>mtasim report</h1>\n<p class=\"meta\">Sender ",
      Escape(scenario.sender.hostname), ", virtual time ",
      Rfc3339(result.start), " to ", Rfc3339(result.end), ", seed ",
      result.seed, ", trace hash ", absl::StrFormat("%016x", result.trace_hash),
      ", ", result.attempts.size(), " attempts. Default policy: ",
      Escape(DefaultPolicyText(scenario)), ".</p>\n");
  for (const std::string& warning : scenario.sender.policy_warnings) {
    absl::StrAppend(&out, "<p class=\"warning\">", Escape(warning), "</p>\n");
  }
  if (result.violation.has_value()) {
    absl::StrAppend(&out, "<p class=\"violation\">INVARIANT VIOLATED: ",
                    Escape(FormatViolation(*result.violation)), "</p>\n");
  }

  absl::StrAppend(
      &out,
      "<h2>Per domain (recipients)</h2>\n<table class=\"domains\">\n<tr><th>"
      "domain</th><th>profile</th><th>policy</th><th>delivered over TLS "
      "(label)</th><th>plaintext</th><th>deferred</th><th>bounced</th><th>"
      "RFC 8460 result types</th></tr>\n");
  for (const DomainSummary& d : result.domains) DomainRow(d, &out);
  absl::StrAppend(&out, "</table>\n");

  // Per profile and policy.
  std::map<std::pair<std::string, std::string>, DomainSummary> groups;
  std::map<std::pair<std::string, std::string>, int> members;
  for (const DomainSummary& d : result.domains) {
    const std::pair<std::string, std::string> key(d.profiles, d.policy);
    ++members[key];
    DomainSummary& g = groups[key];
    g.domain = absl::StrCat(members[key], " domain", members[key] > 1 ? "s" : "");
    g.profiles = d.profiles;
    g.policy = d.policy;
    g.tls += d.tls;
    for (const auto& [label, n] : d.tls_by_label) g.tls_by_label[label] += n;
    g.plaintext += d.plaintext;
    g.deferred += d.deferred;
    g.bounced += d.bounced;
    g.tlsrpt_result_types.insert(d.tlsrpt_result_types.begin(),
                                 d.tlsrpt_result_types.end());
  }

  absl::StrAppend(&out, "<h2>What decided each domain's outcomes</h2>\n");
  for (const DomainSummary& d : result.domains) {
    absl::StrAppend(&out, "<section class=\"domain\" id=\"d-", Escape(d.domain),
                    "\">\n<h3>", Escape(d.domain), "</h3>\n<p class=\"rule\">",
                    "Rule ", Escape(d.policy_rule), ": <code>",
                    Escape(d.policy), "</code>; partners: ", Escape(d.profiles),
                    "</p>\n<ul class=\"why\">\n");
    for (const DomainPeriod& p : d.periods) {
      std::vector<std::string> parts;
      if (p.counts.tls > 0) parts.push_back(OverTls(p.counts));
      if (p.counts.plaintext > 0) {
        parts.push_back(absl::StrCat(p.counts.plaintext, " in plaintext"));
      }
      if (p.counts.deferred > 0) {
        parts.push_back(absl::StrCat(p.counts.deferred, " deferred"));
      }
      if (p.counts.bounced > 0) {
        parts.push_back(absl::StrCat(p.counts.bounced, " bounced"));
      }
      absl::StrAppend(
          &out, "<li>Queued ", ClockText(p.from, span), "&ndash;",
          ClockText(p.to, span),
          p.after.empty()
              ? std::string()
              : absl::StrCat(" (after ", Escape(absl::StrJoin(p.after, ", ")),
                             ")"),
          ": ", Escape(parts.empty() ? "no mail" : absl::StrJoin(parts, ", ")),
          p.max_delay > absl::Minutes(1)
              ? absl::StrCat("; delivered within ",
                             absl::FormatDuration(
                                 absl::Trunc(p.max_delay, absl::Seconds(1))))
              : std::string(),
          "</li>\n");
    }
    for (const auto& [why, n] : d.why) {
      absl::StrAppend(&out, "<li>", n, " deferred or bounced: ", Escape(why),
                      "</li>\n");
    }
    if (d.periods.empty() && d.why.empty()) {
      absl::StrAppend(&out, "<li>", Escape(OverTls(d)), ", ", d.plaintext,
                      " in plaintext; nothing deferred or bounced</li>\n");
    }
    absl::StrAppend(&out, "</ul>\n", TimelineSvg(scenario, result, d),
                    "</section>\n");
  }

  absl::StrAppend(
      &out,
      "<h2>Per profile and policy (recipients)</h2>\n<table class=\"profiles\">"
      "\n<tr><th>profile</th><th>policy</th><th>domains</th><th>delivered over "
      "TLS (label)</th><th>plaintext</th><th>deferred</th><th>bounced</th><th>"
      "RFC 8460 result types</th></tr>\n");
  for (const auto& [key, g] : groups) {
    absl::StrAppend(
        &out, "<tr><td>", Escape(g.profiles), "</td><td><code>",
        Escape(g.policy), "</code></td><td>", Escape(g.domain),
        "</td><td class=\"n\">", Escape(Labels(g)), "</td><td class=\"n\">",
        g.plaintext, "</td><td class=\"n\">", g.deferred,
        "</td><td class=\"n\">", g.bounced, "</td><td>",
        Escape(g.tlsrpt_result_types.empty()
                   ? "-"
                   : absl::StrJoin(g.tlsrpt_result_types, ", ")),
        "</td></tr>\n");
  }
  absl::StrAppend(&out, "</table>\n<h2>Faults</h2>\n<ul>\n");
  for (const std::string& fault : result.faults_applied) {
    absl::StrAppend(&out, "<li>", Escape(fault), "</li>\n");
  }
  for (const std::string& fault : result.faults_not_applied) {
    absl::StrAppend(&out, "<li>not applied: ", Escape(fault), "</li>\n");
  }
  if (result.faults_applied.empty() && result.faults_not_applied.empty()) {
    absl::StrAppend(&out, "<li>none</li>\n");
  }
  absl::StrAppend(
      &out,
      "</ul>\n<p class=\"meta\">Labels are Postfix's classes (Anonymous, "
      "Untrusted, Trusted, Verified) after the policy level that demanded "
      "them; docs/admin-guide.md explains them and this page. Per attempt: "
      "attempts.csv (its <code>attempt</code> number also names the pcap "
      "file and the transcript).</p>\n</body>\n</html>\n");
  return out;
}

}  // namespace starling::sim
