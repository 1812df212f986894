// kernel_text.hpp: the kernel's state and file-handler log as text, rendered from the model
// (KernelModel) and from the simulator (SimulatedKernel::Snapshot) in one format, so that a
// mismatch prints as a readable two-sided diff.
//
// Shared by TwinKernel (tests/scenarios) and the property tests (tests/properties). Not part of
// luo_test_support: it needs luo::adapters, and the mutation-report binary links its own copy of
// that library, so each binary compiles kernel_text.cpp itself.
//
//   EXPECT_EQ(render_simulator(sim.snapshot()), render_model(model));
//   EXPECT_EQ(render_log(sim.handler_log()), render_log(model.handler_log()));
#pragma once

#include <string>
#include <vector>

#include "luo/adapters/simulated_kernel.hpp"
#include "luo/model/kernel_model.hpp"

namespace luo::testing {

// "ok" for 0, the errno's name when luo::Errno lists it, else "errno N".
std::string errno_text(int e);

// Boot number, device, outgoing sessions with their tokens in preservation order, and (once
// the boot's first open deserialized them) incoming sessions with per-file states.
std::string render_model(const KernelModel& k);
std::string render_simulator(const SimulatedKernel::Snapshot& k);

// "op(session,token) " per call, in call order.
std::string render_log(const std::vector<HandlerCall>& log);

}  // namespace luo::testing
