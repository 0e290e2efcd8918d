#include "loadgen/proc_sampler.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

namespace mop::loadgen {
namespace {

TEST(ProcSampler, ParsesStatWithSpacesInTheName) {
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
  const std::string stat = "1234 (my (odd) name) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1";
  auto cpu = parse_stat_cpu_seconds(stat, 100);
  ASSERT_TRUE(cpu);
  EXPECT_DOUBLE_EQ(*cpu, 4.0);
  EXPECT_FALSE(parse_stat_cpu_seconds("1234 (x) S 1 2", 100));
}

TEST(ProcSampler, ParsesStatusFields) {
  const std::string status = "Name:\tmosquitto\nVmPeak:\t  20000 kB\nVmRSS:\t    5120 kB\nThreads:\t1\n";
  EXPECT_EQ(parse_status_field_kib(status, "VmRSS"), 5120u);
  EXPECT_EQ(parse_status_field_kib(status, "Threads"), 1u);
  EXPECT_FALSE(parse_status_field_kib(status, "VmSwap"));
}

TEST(ProcSampler, SamplesItself) {
  auto s = sample_process(static_cast<int>(::getpid()));
  ASSERT_TRUE(s);
  EXPECT_GT(s->rss_kib, 0u);
  EXPECT_GE(s->threads, 1u);
}

}  // namespace
}  // namespace mop::loadgen
