// The op-thread decision of a forward pass (src/threads.hpp, pass_op_threads): every pass runs on
// the calling thread alone when the machine is oversubscribed, and keeps its threads otherwise.
// The heuristic's purpose (speed on a loaded machine) is measured in docs/BENCHMARKS.md, not here;
// this checks the decision it takes from the load average.
#include <gtest/gtest.h>

#include "threads.hpp"

using gptrec::pass_op_threads;

TEST(PassOpThreads, AnOversubscribedMachineRunsThePassOnTheCallingThread) {
  // 2 cores: oversubscribed above a load average of 2.5.
  EXPECT_EQ(pass_op_threads(2, 2, 2.51), 1);
  EXPECT_EQ(pass_op_threads(2, 2, 16.0), 1);
  EXPECT_EQ(pass_op_threads(8, 8, 9.0), 1);
  EXPECT_EQ(pass_op_threads(4, 2, 16.0), 1);
}

TEST(PassOpThreads, KeepsItsThreadsOtherwise) {
  EXPECT_EQ(pass_op_threads(2, 2, 2.5), 2);   // not above cores + 0.5
  EXPECT_EQ(pass_op_threads(2, 2, 0.1), 2);   // a quiet machine
  EXPECT_EQ(pass_op_threads(2, 2, -1.0), 2);  // load average unknown
  EXPECT_EQ(pass_op_threads(8, 8, 8.4), 8);
  EXPECT_EQ(pass_op_threads(1, 2, 16.0), 1);
}
