#include "sqlite_db.h"

namespace tandem::controller::sqlite {

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db), sql_(sql) {
  int rc = sqlite3_prepare_v2(db, sql_.c_str(), static_cast<int>(sql_.size()), &stmt_, nullptr);
  if (rc != SQLITE_OK) {
    prepare_status_ = Status(ErrorCode::kInternal, std::string("prepare: ") + sqlite3_errmsg(db) + " in: " + sql_);
  }
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int index, std::string_view text) {
  if (stmt_) sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  return *this;
}

Statement& Statement::bind(int index, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::bind(int index, double value) {
  if (stmt_) sqlite3_bind_double(stmt_, index, value);
  return *this;
}

Result<bool> Statement::step() {
  if (!prepare_status_.isOk()) return prepare_status_;
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  ErrorCode code = ErrorCode::kIo;
  if (rc == SQLITE_CONSTRAINT) code = ErrorCode::kAlreadyExists;
  if (rc == SQLITE_FULL) code = ErrorCode::kNoSpace;
  return Status(code, std::string("sqlite: ") + sqlite3_errmsg(db_) + " in: " + sql_);
}

Status Statement::run() {
  while (true) {
    ASSIGN_OR_RETURN(bool row, step());
    if (!row) return Status::ok();
  }
}

std::string Statement::columnText(int index) const {
  const unsigned char* t = sqlite3_column_text(stmt_, index);
  return t ? std::string(reinterpret_cast<const char*>(t), static_cast<size_t>(sqlite3_column_bytes(stmt_, index)))
           : std::string();
}

int64_t Statement::columnInt(int index) const { return sqlite3_column_int64(stmt_, index); }
double Statement::columnDouble(int index) const { return sqlite3_column_double(stmt_, index); }

Status exec(sqlite3* db, std::string_view sql) {
  std::string s(sql);
  char* err = nullptr;
  if (sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status(ErrorCode::kIo, "sqlite: " + msg + " in: " + s);
  }
  return Status::ok();
}

}  // namespace tandem::controller::sqlite
