// The ranking metrics of the evaluation protocols: HR, Recall and NDCG at K (binary relevance).
#include <algorithm>
#include <cmath>

#include "gptrec/evaluation.hpp"

namespace gptrec {

RankingMetrics ranking_metrics(std::span<const int> top, const std::vector<bool>& in_target,
                               int target_size, int k) {
  RankingMetrics m;
  if (target_size <= 0) return m;
  int hits = 0;
  double dcg = 0, idcg = 0;
  for (int r = 0; r < k && r < static_cast<int>(top.size()); ++r)
    if (in_target[static_cast<std::size_t>(top[static_cast<std::size_t>(r)])]) {
      ++hits;
      dcg += 1.0 / std::log2(r + 2.0);
    }
  for (int r = 0; r < std::min(target_size, k); ++r) idcg += 1.0 / std::log2(r + 2.0);
  m.hit = hits > 0 ? 1.0 : 0.0;
  m.recall = static_cast<double>(hits) / target_size;
  m.ndcg = dcg / idcg;
  return m;
}

RankingMetrics metrics_at_rank(int rank, int k) {
  RankingMetrics m;
  if (rank < k) {
    m.hit = 1;
    m.recall = 1;
    m.ndcg = 1.0 / std::log2(rank + 2.0);
  }
  return m;
}

}  // namespace gptrec
