// luo/model/kernel_model.hpp: the whole LUO kernel as one pure value: the device, the outgoing
// and incoming session lists and their files, across any number of simulated reboots.
//
// It composes the four machines (device_machine.hpp, outgoing_session_machine.hpp,
// incoming_session_machine.hpp, file_machine.hpp): every operation computes the guards' facts
// from the state, asks the machine tables for the row, and applies it. It adds only what a
// single machine cannot know: which sessions exist, in what order their files are visited
// (spec kernel-luo.md §3.5), and which files are registered against double preservation.
//
// Faults that the kernel cannot predict (EMFILE, a handler's error, a copy-back fault, a
// freeze failure) are chosen by the caller through an Environment, so a checker can enumerate
// them and a test can mirror what it injected into the simulator.
//
//   KernelModel k(KernelProfile::v7_2);
//   k.open_device();
//   auto s = k.create_session(SessionNameField::from("vm0"));
//   FileId mem = k.new_memfd();
//   k.preserve_fd(s.session, FileRef{mem}, 0x1234);
//   k.kexec();                                // the next boot: "vm0" is incoming
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "luo/model/device_machine.hpp"
#include "luo/model/file_machine.hpp"
#include "luo/model/handler_call.hpp"
#include "luo/model/incoming_session_machine.hpp"
#include "luo/model/outgoing_session_machine.hpp"
#include "luo/model/session_name.hpp"

namespace luo {

using FileId = std::uint32_t;     // a file's identity (its inode), allocated by the model
using SessionId = std::uint32_t;  // a session fd's open file description, allocated by the model
inline constexpr FileId kNoFile = 0;
inline constexpr SessionId kNoSession = 0;

enum class FileKind : std::uint8_t { memfd, unsupported, invalid_fd };
struct FileRef {
  FileId id = kNoFile;
  FileKind kind = FileKind::memfd;
};

// What the kernel cannot predict, for one operation.
struct Environment {
  bool no_free_fd = false;
  bool out_of_memory = false;
  bool copy_back_fault = false;
  bool deserialization_fails = false;
  bool can_finish_vetoes = false;
  std::optional<Errno> handler_error;  // the file handler's preserve/retrieve fails so
  struct FreezeFailure {
    std::uint32_t nth_file = 0;  // 0-based, counted across sessions in freeze order
    Errno error = Errno::eio;
  };
  std::optional<FreezeFailure> freeze_failure;
};

struct ModelFile {
  Token token = 0;
  FileId file = kNoFile;       // the preserved file (outgoing) or its old identity (incoming)
  FileId retrieved = kNoFile;  // the new file once retrieved in this kernel
  FileState state = FileState::preserved;
  Errno sticky_error = Errno::ok;  // the error a failed retrieve keeps returning
};
struct ModelOutgoingSession {
  SessionId id = kNoSession;
  std::string name;
  OutgoingSessionState state = OutgoingSessionState::created;
  std::vector<ModelFile> files;  // preservation order
};
struct ModelIncomingSession {
  SessionId id = kNoSession;  // set once retrieved
  std::string name;
  IncomingSessionState state = IncomingSessionState::deserialized;
  std::vector<ModelFile> files;  // deserialized in preservation order
};

// The result of one operation, as the caller of the real syscall would see it.
struct Step {
  Outcome outcome;
  Errno error = Errno::ok;  // the effective errno (the handler's for handler_error)
  SessionId session = kNoSession;
  FileId file = kNoFile;
  bool ok() const { return outcome.ok(); }
};

class KernelModel {
 public:
  explicit KernelModel(KernelProfile profile = kDefaultProfile) : profile_(profile) {}

  KernelProfile profile() const { return profile_; }
  std::uint64_t boot_number() const { return boot_number_; }
  DeviceState device() const { return device_; }
  const std::vector<ModelOutgoingSession>& outgoing() const { return outgoing_; }
  const std::vector<ModelIncomingSession>& incoming() const { return incoming_; }
  const std::vector<HandlerCall>& handler_log() const { return log_; }
  void clear_handler_log() { log_.clear(); }

  // Files that exist outside the kernel: the caller's memfds and other fds.
  FileId new_memfd() { return next_file_++; }
  FileId new_unsupported_file() { return next_file_++; }

  Step open_device(const Environment& env = {});
  Step release_device();
  Step create_session(const SessionNameField& name, const Environment& env = {});
  Step retrieve_session(const SessionNameField& name, const Environment& env = {});
  Step preserve_fd(SessionId s, FileRef file, Token token, const Environment& env = {});
  Step retrieve_fd(SessionId s, Token token, const Environment& env = {});
  Step finish_session(SessionId s, std::uint32_t reserved = 0, const Environment& env = {});
  Step get_session_name(SessionId s, std::uint32_t reserved = 0);
  // The last reference to the session fd is gone.
  Step release_session(SessionId s, const Environment& env = {});
  Step kexec(const Environment& env = {});

  // Lookups for tests and invariants.
  const ModelOutgoingSession* find_outgoing(SessionId s) const;
  const ModelIncomingSession* find_incoming(SessionId s) const;
  std::string session_name(SessionId s) const;
  // Is the file in the double-preservation table: preserved in a live outgoing session, or
  // retrieved in an incoming session that is not finished yet (§3.1.5)?
  bool is_registered(FileId f) const;

 private:
  ModelOutgoingSession* outgoing_by_id(SessionId s);
  ModelIncomingSession* incoming_by_id(SessionId s);
  Step fail_no_session() const;
  Step apply_handler_outcome(const Outcome& o, const Environment& env) const;
  void unpreserve_all(ModelOutgoingSession& s);
  void finish_files(ModelIncomingSession& s);
  bool can_finish_all(ModelIncomingSession& s, const Environment& env);

  KernelProfile profile_;
  std::uint64_t boot_number_ = 0;
  DeviceState device_ = DeviceState::never_opened;
  std::vector<ModelOutgoingSession> outgoing_;  // creation order
  std::vector<ModelIncomingSession> incoming_;  // previous kernel's creation order
  std::vector<HandlerCall> log_;
  SessionId next_session_ = 1;
  FileId next_file_ = 1;
};

}  // namespace luo
