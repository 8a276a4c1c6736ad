#ifndef STARLING_TOOLS_INTEROP_REPORT_H_
#define STARLING_TOOLS_INTEROP_REPORT_H_

// The interoperability suite's table. Every check of every interop test is
// one row; a test binary prints its rows as a Markdown table when it ends
// (between "interop table begin/end" lines, so tools/interop/run can join
// the binaries' rows into one table).

#include <string>
#include <vector>

namespace starling::interop {

struct Row {
  std::string area;     // inbound, outbound, differential, policy, versions
  std::string peer;     // "swaks", "Postfix 3.7.11 smtpd", ...
  std::string check;    // what was tried
  std::string outcome;  // ok, FAIL, known difference, skipped, not offered
  std::string note;     // evidence: the reply, the log line, the label
};

// Adds a row (thread-safe).
void Record(Row row);

// Records `ok` as "ok" or "FAIL" and returns it, for EXPECT_TRUE(Check(...)).
bool Check(bool ok, const std::string& area, const std::string& peer,
           const std::string& check, const std::string& note);

// Records a skipped check with the reason.
void Skip(const std::string& area, const std::string& peer,
          const std::string& check, const std::string& why);

std::vector<Row> Rows();

// The rows as a Markdown table (cells' '|' and newlines escaped).
std::string FormatTable(const std::vector<Row>& rows);

// Registers the gtest environment that prints the table at the end of the
// test binary (call from main or a static initializer; idempotent).
void PrintTableAtExit();

}  // namespace starling::interop

#endif  // STARLING_TOOLS_INTEROP_REPORT_H_
