// kernel_commands.hpp: the rapidcheck command set that drives impl/ over SimulatedKernel and
// checks it against model/'s KernelModel, command by command (tests/properties).
//
// The model side (KernelState) is a value: KernelModel, plus the handles a test process holds
// (session objects, memfds) and what each memfd contains. The system under test (KernelSut) is
// LiveUpdate over IoctlPort over SimulatedKernel, with one Device/session object or fd per
// handle. Handles are indices that only grow, so a command shrunk away cannot make a later one
// refer to a different object without its preconditions noticing.
//
// Every command's run() computes the model's answer on a copy of the state before it, performs
// the call on the SUT, and asserts the errno (0 for success); then verify() compares, after
// every step: the kernel state rendered from both sides (sessions, tokens in preservation
// order, incoming files in handover order with their states), the file-handler calls of the
// step in order, every invariant of model/invariants.hpp, impl's own view (device state,
// session states, tokens, file states) and each open memfd's size, position, seals and
// contents against the model's image of it.
//
//   KernelState initial(KernelProfile::v7_2);
//   KernelSut sut(KernelProfile::v7_2);
//   rc::state::check(initial, sut, kernel_lifecycle_commands());
#pragma once

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/live_update.hpp"
#include "luo/model/kernel_model.hpp"

namespace luo::testing {

// A test process: a set of handles (device, sessions, memfds) that a crash closes together.
using Process = int;
inline constexpr Process kProcesses = 3;

struct KernelState {
  explicit KernelState(KernelProfile profile) : k(profile) {}

  struct Session {
    SessionId id = kNoSession;
    bool incoming = false;
    Process process = 0;
    bool open = true;  // the SUT object still holds its fd (possibly stale)
    std::uint64_t boot = 0;
    std::string name;  // as the kernel stores it
  };
  struct File {
    FileId id = kNoFile;
    Process process = 0;
    bool open = true;
  };
  // What a memfd holds; its position is that of its one open file description.
  struct Image {
    std::string data;
    std::uint64_t position = 0;
    std::uint32_t seals = 0;
  };

  KernelProfile profile() const { return k.profile(); }
  std::uint64_t boot() const { return k.boot_number(); }
  // In a live outgoing session: the kernel froze its mapping, so its size cannot change (§3.8).
  bool frozen(FileId f) const;
  // Files every kexec would freeze, over all outgoing sessions.
  std::size_t outgoing_files() const;

  KernelModel k;
  std::vector<Session> sessions;
  std::vector<File> files;
  std::map<FileId, Image> images;
  bool device_object = false;  // the SUT holds a Device (open, closed or stale)
  Process device_process = 0;
  bool faults = true;  // generate injected faults and invalid arguments
};

struct KernelSut {
  explicit KernelSut(KernelProfile profile) : sim(profile), port(sim), lu(port, profile) {}

  struct Session {
    std::optional<OutgoingSession> out;
    std::optional<IncomingSession> in;
  };

  SimulatedKernel sim;
  IoctlPort port;
  LiveUpdate lu;
  std::optional<Device> device;
  std::vector<Session> sessions;
  std::vector<UniqueFd> files;
};

using KernelCommand = rc::state::Command<KernelState, KernelSut>;
using KernelCommandGen = rc::Gen<std::shared_ptr<const KernelCommand>>;

// Every command, invalid calls included (wrong state, duplicate token or name, unknown name or
// token, closed and stale handles, wrong session type through the raw port, injected faults).
KernelCommandGen kernel_lifecycle_commands(const KernelState& s);
// Fewer error paths, more data: memfds written, preserved, handed over, retrieved, rewritten
// and handed over again across several boots.
KernelCommandGen kexec_round_trip_commands(const KernelState& s);

// One rapidcheck case: a generated command sequence from a fresh kernel, then every handle
// closed (each process crashes) and checked once more; no fd may stay open afterwards.
void kernel_lifecycle_sequence(KernelProfile profile);
void kexec_round_trip_sequence(KernelProfile profile);

}  // namespace luo::testing
