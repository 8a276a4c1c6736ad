#include "tools/interop/report.h"

#include <cstdio>
#include <mutex>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"

namespace starling::interop {
namespace {

std::mutex& RowsMutex() {
  static auto* mutex = new std::mutex();
  return *mutex;
}

std::vector<Row>& AllRows() {
  static auto* rows = new std::vector<Row>();
  return *rows;
}

std::string Cell(const std::string& text) {
  std::string cell =
      absl::StrReplaceAll(text, {{"|", "\\|"}, {"\r", ""}, {"\n", " / "}});
  if (cell.size() > 240) cell = cell.substr(0, 237) + "...";
  return cell;
}

class TableEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    const std::string table = FormatTable(Rows());
    std::printf(
        "---- interop table begin ----\n%s---- interop table end ----\n",
        table.c_str());
    std::fflush(stdout);
  }
};

}  // namespace

void Record(Row row) {
  std::lock_guard<std::mutex> lock(RowsMutex());
  AllRows().push_back(std::move(row));
}

bool Check(bool ok, const std::string& area, const std::string& peer,
           const std::string& check, const std::string& note) {
  Record({area, peer, check, ok ? "ok" : "FAIL", note});
  return ok;
}

void Skip(const std::string& area, const std::string& peer,
          const std::string& check, const std::string& why) {
  Record({area, peer, check, "skipped", why});
}

std::vector<Row> Rows() {
  std::lock_guard<std::mutex> lock(RowsMutex());
  return AllRows();
}

std::string FormatTable(const std::vector<Row>& rows) {
  std::string out =
      "| area | peer | check | outcome | note |\n|---|---|---|---|---|\n";
  for (const Row& row : rows) {
    absl::StrAppend(&out, "| ", Cell(row.area), " | ", Cell(row.peer), " | ",
                    Cell(row.check), " | ", Cell(row.outcome), " | ",
                    Cell(row.note), " |\n");
  }
  return out;
}

void PrintTableAtExit() {
  static bool registered = false;
  if (registered) return;
  registered = true;
  ::testing::AddGlobalTestEnvironment(new TableEnvironment());
}

}  // namespace starling::interop
