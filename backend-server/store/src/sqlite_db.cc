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
  return sqliteError(rc, sqlite3_errmsg(db_), sql_);
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
  int rc = sqlite3_exec(db, s.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    return sqliteError(rc, msg, s);
  }
  return Status::ok();
}

Status sqliteError(int rc, const std::string& message, const std::string& sql) {
  switch (rc & 0xff) {  // the primary result code
    case SQLITE_CONSTRAINT: return Status(ErrorCode::kAlreadyExists, "sqlite: " + message + " in: " + sql);
    case SQLITE_FULL:
      // The controller's own disk: not the client's fault, retryable once there is room.
      return Status(ErrorCode::kUnavailable,
                    "the controller's database disk is full; nothing was changed (sqlite: " + message + ")")
          .withReason("store_full");
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status(ErrorCode::kUnavailable, "the controller's database is busy (sqlite: " + message + ")")
          .withReason("store_busy");
    default:
      return Status(ErrorCode::kIo, "sqlite: " + message + " in: " + sql).withReason("store_io_error");
  }
}

}  // namespace tandem::controller::sqlite
