// The op-thread decision of a forward pass (src/threads.hpp, decode_threads): one-row passes run
// on the calling thread alone when the machine is oversubscribed, every other pass keeps its
// threads. The heuristic's purpose (speed on a loaded machine) is measured in docs/BENCHMARKS.md,
// not here; this checks the decision it takes from the load average.
#include <gtest/gtest.h>

#include "threads.hpp"

using gptrec::decode_threads;

TEST(DecodeThreads, OneRowOnAnOversubscribedMachineRunsOnTheCallingThread) {
  // 2 cores: oversubscribed above a load average of 2.5.
  EXPECT_EQ(decode_threads(1, 2, 2, 2.51), 1);
  EXPECT_EQ(decode_threads(1, 2, 2, 16.0), 1);
  EXPECT_EQ(decode_threads(1, 8, 8, 9.0), 1);
}

TEST(DecodeThreads, KeepsItsThreadsOtherwise) {
  EXPECT_EQ(decode_threads(1, 2, 2, 2.5), 2);   // not above cores + 0.5
  EXPECT_EQ(decode_threads(1, 2, 2, 0.1), 2);   // a quiet machine
  EXPECT_EQ(decode_threads(1, 2, 2, -1.0), 2);  // load average unknown
  EXPECT_EQ(decode_threads(2, 2, 2, 16.0), 2);  // more than one row: large products
  EXPECT_EQ(decode_threads(512, 4, 2, 16.0), 4);
  EXPECT_EQ(decode_threads(1, 1, 2, 16.0), 1);
}
