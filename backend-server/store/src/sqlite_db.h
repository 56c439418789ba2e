// Thin RAII wrappers over the SQLite C API for the store: a connection and a prepared statement.
// Errors become Status(kIo) with SQLite's message and the SQL that failed.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "tandem/common/status.h"

namespace tandem::controller::sqlite {

class Statement {
 public:
  Statement(sqlite3* db, std::string_view sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  const Status& prepareStatus() const { return prepare_status_; }
  Statement& bind(int index, std::string_view text);
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, double value);
  // SQLITE_ROW → true, SQLITE_DONE → false, else an error.
  Result<bool> step();
  // Runs to completion.
  Status run();
  std::string columnText(int index) const;
  int64_t columnInt(int index) const;
  double columnDouble(int index) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
  Status prepare_status_;
};

Status exec(sqlite3* db, std::string_view sql);

// A failed SQLite call as a Status: constraint → kAlreadyExists; disk full → kUnavailable
// ("store_full"); busy/locked → kUnavailable ("store_busy"); else kIo ("store_io_error").
Status sqliteError(int rc, const std::string& message, const std::string& sql);

}  // namespace tandem::controller::sqlite
