#include "tandem/cli/table.h"

#include <algorithm>

namespace tandem::cli {

void Table::addRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::alignRight(size_t index) {
  if (right_.size() < headers_.size()) right_.resize(headers_.size(), false);
  if (index < right_.size()) right_[index] = true;
}

std::string Table::render() const {
  std::vector<size_t> width(headers_.size(), 0);
  for (size_t c = 0; c < headers_.size(); ++c) width[c] = headers_[c].size();
  for (const auto& row : rows_) {
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (size_t c = 0; c < cells.size(); ++c) {
      bool right = c < right_.size() && right_[c];
      bool last = c + 1 == cells.size();
      size_t pad = width[c] - cells[c].size();
      if (c > 0) out += "  ";
      if (right) out.append(pad, ' ');
      out += cells[c];
      if (!right && !last) out.append(pad, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  for (const auto& row : rows_) out += line(row);
  return out;
}

}  // namespace tandem::cli
