// fd_store_commands.hpp: the rapidcheck command set for service managers' fd stores and their
// handoff across kexec (spec systemd-luo.md §1, §3), checked against model/fd_store_machine.hpp.
//
// The model side (FdState) keeps, per owner, the entries newest first with the object each one
// holds (a memfd with its contents and position, a pipe's read end, a service's own LUO
// session), the held entries of owners not loaded yet, and the handoff counter. Every state an
// entry reaches is computed with the fd-store entry machine (kFdEntryMachine), the pipeline's
// with kHandoffMachine, and a stopped owner's store closes per kReleaseRules; which facts hold
// (store full, duplicate open file, owner unknown, preserve refused, retrieve failed) the model
// derives from its own bookkeeping. The system under test (FdSut) is the HandoffManager an
// embedder uses (its stores, held entries, Stage A/B, kexec and restore) and LiveUpdate over
// IoctlPort over SimulatedKernel.
//
// run() asserts every result (add outcomes and errnos, removed counts, release decisions, every
// report of Stage A, Stage B, restore and held-entry dispatch, the Stage A document and the
// Stage B mapping, the pipeline states and kexecs count), then verify() compares every store and
// the held entries with the model: names, poll flags, order, and what each fd is (the same open
// file description as the object's, its contents and position; a session's name and data).
//
//   FdState initial(KernelProfile::v7_2);
//   FdSut sut(KernelProfile::v7_2);
//   rc::state::check(initial, sut, fd_store_commands);
#pragma once

#include <rapidcheck.h>
#include <rapidcheck/state.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "luo/adapters/ioctl_port.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "luo/impl/handoff_manager.hpp"

namespace luo::testing {

struct FdState {
  explicit FdState(KernelProfile p) : profile(p) {}

  enum class Kind : std::uint8_t { memfd, pipe, session };
  // One open file description the test created (or the restore produced).
  struct Object {
    Kind kind = Kind::memfd;
    std::string data;            // memfd contents; for a session, its memfd at token 1
    std::uint64_t position = 0;  // memfd
    bool writer_open = true;     // pipe: a client still holds the write end
    std::string session;         // session: its name
    bool outgoing = true;        // session: created in this boot (handed over at kexec)
  };
  struct Entry {
    std::string name;
    std::size_t object = 0;
    Poll poll = Poll::on;
  };
  struct Owner {
    FdStoreConfig config;
    std::vector<Entry> entries;  // newest first
  };
  struct Held {
    std::string name;
    std::size_t object = 0;
  };

  // References to `object` from stores and held entries: a session lives while one is left.
  std::size_t references(std::size_t object) const;
  // An outgoing session with that name is alive (a store holds it, or the squatter does).
  bool outgoing_session_alive(const std::string& name) const;

  KernelProfile profile;
  std::vector<Object> objects;                    // index: the object's id, never reused
  std::map<std::string, Owner> owners;            // loaded owners, in id order
  std::map<std::string, std::vector<Held>> held;  // by owner, in hold order
  std::uint32_t kexecs = 0;                       // the manager's counter after the last restore
  std::uint32_t next_session = 1;                 // own sessions are "svc-<n>"
  std::optional<std::size_t> squatter;            // an outgoing "systemd" another process holds
};

struct FdSut {
  explicit FdSut(KernelProfile profile);
  // The machine reboots without LUO's help (cold boot): a fresh kernel.
  void cold_boot();

  KernelProfile profile;
  std::unique_ptr<SimulatedKernel> sim;
  std::unique_ptr<IoctlPort> port;
  std::unique_ptr<LiveUpdate> lu;
  // The manager of the current boot: it owns the stores and the held entries.
  std::unique_ptr<HandoffManager> mgr;
  std::map<std::size_t, UniqueFd> refs;          // object -> the test's own reference to it
  std::map<std::size_t, UniqueFd> pipe_writers;  // object -> the client's write end
  std::optional<OutgoingSession> squatter;
};

using FdCommand = rc::state::Command<FdState, FdSut>;
using FdCommandGen = rc::Gen<std::shared_ptr<const FdCommand>>;

FdCommandGen fd_store_commands(const FdState& s);

// One rapidcheck case: a generated sequence from a fresh machine; no fd may stay open after it.
void fd_store_handoff_sequence(KernelProfile profile);

}  // namespace luo::testing
