#pragma once
// The scenarios of fleet_bench. Each prints its figures, measures its own baseline in the
// same run, and records its targets' verdicts.

#include "options.hpp"
#include "report.hpp"

namespace planificador::bench {

// With real daemons: "latency" (broker + 1 daemon against the same daemon direct, latency
// and throughput), "aggregate" (N daemons behind the broker against N direct), "kill"
// (SIGKILL of a member to the last of its tasks answered).
void run_real_scenarios(const Options& options, Targets& targets);

// The broker alone toward simulated daemons: "hop" (its own latency: one simulated daemon
// through the broker against the same direct), "sim" (tasks/s and RSS over many tasks) and
// "sweep" (tasks/s and RSS from 10 to 500 daemons).
void run_sim_scenarios(const Options& options, Targets& targets);

}  // namespace planificador::bench
