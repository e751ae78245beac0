// KVCache: the keys and values of every layer and head for the positions a sequence has seen
// (the forward pass writes them, attention reads them).
#include <string>

#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "huge_pages.hpp"

namespace gptrec {

KVCache::KVCache(const ModelConfig& config, int capacity)
    : n_head_(config.n_head), head_dim_(config.head_dim()), capacity_(capacity) {
  if (capacity < 0 || capacity > config.n_ctx)
    throw Error(ErrorCode::kInvalidArgument, "KV cache capacity " + std::to_string(capacity) +
                                                 " is outside [0, " + std::to_string(config.n_ctx) +
                                                 "]");
  const auto rows = static_cast<Eigen::Index>(n_head_) * capacity;
  for (auto* side : {&keys_, &values_}) {
    side->resize(static_cast<std::size_t>(config.n_layer));
    for (RowMatrix& m : *side) {
      m.resize(rows, head_dim_);  // not written here: rows are filled as positions arrive
      advise_huge_pages(m.data(), static_cast<std::size_t>(m.size()) * sizeof(float));
    }
  }
}

MatrixRef KVCache::keys(int layer, int head) {
  return keys_[static_cast<std::size_t>(layer)].middleRows(
      static_cast<Eigen::Index>(head) * capacity_, capacity_);
}
MatrixRef KVCache::values(int layer, int head) {
  return values_[static_cast<std::size_t>(layer)].middleRows(
      static_cast<Eigen::Index>(head) * capacity_, capacity_);
}
ConstMatrixRef KVCache::keys(int layer, int head) const {
  return keys_[static_cast<std::size_t>(layer)].middleRows(
      static_cast<Eigen::Index>(head) * capacity_, capacity_);
}
ConstMatrixRef KVCache::values(int layer, int head) const {
  return values_[static_cast<std::size_t>(layer)].middleRows(
      static_cast<Eigen::Index>(head) * capacity_, capacity_);
}

}  // namespace gptrec
