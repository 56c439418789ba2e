// A plain-text table with aligned columns, for terminal output. Not thread-safe (a value).
#pragma once

#include <string>
#include <vector>

namespace tandem::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

  // A row with fewer cells than headers is padded with empty cells; extra cells are dropped.
  void addRow(std::vector<std::string> cells);
  size_t rowCount() const { return rows_.size(); }

  // Header line then one line per row; columns separated by two spaces and left-aligned
  // (right-aligned for columns marked numeric); no trailing spaces. Ends with '\n'.
  std::string render() const;
  // Right-aligns column `index` (sizes, counts).
  void alignRight(size_t index);

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
  std::vector<bool> right_;
};

}  // namespace tandem::cli
