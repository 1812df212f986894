#include "luo/model/invariants.hpp"

#include <algorithm>
#include <array>
#include <set>

namespace luo {
namespace {

bool token_unique_per_session(const KernelModel& k) {
  const auto unique = [](const std::vector<ModelFile>& files) {
    std::set<Token> seen;
    return std::all_of(files.begin(), files.end(),
                       [&](const ModelFile& f) { return seen.insert(f.token).second; });
  };
  return std::all_of(k.outgoing().begin(), k.outgoing().end(),
                     [&](const auto& s) { return unique(s.files); }) &&
         std::all_of(k.incoming().begin(), k.incoming().end(),
                     [&](const auto& s) { return unique(s.files); });
}

bool name_unique_among_outgoing(const KernelModel& k) {
  std::set<std::string> seen;
  return std::all_of(k.outgoing().begin(), k.outgoing().end(),
                     [&](const auto& s) { return seen.insert(s.name).second; });
}

bool name_unique_among_incoming(const KernelModel& k) {
  std::set<std::string> seen;
  return std::all_of(k.incoming().begin(), k.incoming().end(),
                     [&](const auto& s) { return seen.insert(s.name).second; });
}

bool file_in_at_most_one_outgoing_session(const KernelModel& k) {
  if (!profile_has(k.profile(), Feature::double_preservation_check))
    return true;
  std::set<FileId> seen;
  for (const auto& s : k.outgoing()) {
    for (const auto& f : s.files) {
      if (!seen.insert(f.file).second)
        return false;
    }
  }
  return true;
}

bool outgoing_holds_only_preserved_files(const KernelModel& k) {
  return std::all_of(k.outgoing().begin(), k.outgoing().end(), [](const auto& s) {
    const bool empty_iff_created = s.files.empty() == (s.state == OutgoingSessionState::created);
    return empty_iff_created && std::all_of(s.files.begin(), s.files.end(), [](const auto& f) {
             return f.state == FileState::preserved;
           });
  });
}

bool finish_releases_all(const KernelModel& k) {
  return std::all_of(k.incoming().begin(), k.incoming().end(), [](const auto& s) {
    if (s.state != IncomingSessionState::finished)
      return true;
    return std::all_of(s.files.begin(), s.files.end(), [](const auto& f) {
      return f.state == FileState::finished || f.state == FileState::discarded;
    });
  });
}

bool unfinished_incoming_files_are_restorable_or_retrieved(const KernelModel& k) {
  return std::all_of(k.incoming().begin(), k.incoming().end(), [](const auto& s) {
    if (s.state == IncomingSessionState::finished)
      return true;
    return std::all_of(s.files.begin(), s.files.end(), [&](const auto& f) {
      const bool untouched = f.state == FileState::restorable;
      return s.state == IncomingSessionState::deserialized
                 ? untouched
                 : untouched || f.state == FileState::retrieved ||
                       f.state == FileState::retrieve_failed;
    });
  });
}

bool legacy_limits_respected(const KernelModel& k) {
  if (!profile_has(k.profile(), Feature::legacy_limits))
    return true;
  return k.outgoing().size() <= kLegacyMaxOutgoingSessions &&
         std::all_of(k.outgoing().begin(), k.outgoing().end(),
                     [](const auto& s) { return s.files.size() <= kLegacyMaxFilesPerSession; });
}

bool nothing_frozen_between_steps(const KernelModel& k) {
  return std::none_of(k.outgoing().begin(), k.outgoing().end(),
                      [](const auto& s) { return s.state == OutgoingSessionState::frozen; });
}

bool retrieved_session_has_fd(const KernelModel& k) {
  return std::all_of(k.incoming().begin(), k.incoming().end(), [](const auto& s) {
    const bool has_fd = s.id != kNoSession;
    return has_fd == (s.state == IncomingSessionState::retrieved ||
                      s.state == IncomingSessionState::finished);
  });
}

constexpr std::array<Invariant, 10> kInvariants = {{
    {"TokenUniquePerSession", "PRESERVE_FD refuses a token already used in the session (EEXIST)",
     "§3.1", token_unique_per_session},
    {"NameUniqueAmongOutgoing", "CREATE_SESSION refuses a name a live outgoing session has", "§2.1",
     name_unique_among_outgoing},
    {"NameUniqueAmongIncoming", "incoming sessions were outgoing sessions with unique names",
     "§2.1", name_unique_among_incoming},
    {"FileInAtMostOneOutgoingSession",
     "from 7.0 an inode is preserved at most once across all outgoing sessions", "§3.1.5",
     file_in_at_most_one_outgoing_session},
    {"OutgoingHoldsOnlyPreservedFiles",
     "between reboots an outgoing session's files are preserved, and only `created` is empty",
     "§2.3", outgoing_holds_only_preserved_files},
    {"FinishReleasesAll", "after FINISH every file is finished or discarded: LUO owns nothing",
     "§3.3", finish_releases_all},
    {"UnfinishedFilesStayRestorable",
     "before FINISH a file is restorable, or retrieved/failed once its session was retrieved",
     "§3.2", unfinished_incoming_files_are_restorable_or_retrieved},
    {"LegacyLimitsRespected", "6.19-7.1 never hold more than 819 sessions or 128 files each",
     "§2.6", legacy_limits_respected},
    {"FrozenOnlyInsideReboot",
     "freeze happens inside reboot(): it either jumps or rolls every session back", "§5.2",
     nothing_frozen_between_steps},
    {"RetrievedSessionHasFd",
     "exactly the retrieved and finished incoming sessions are reachable through an fd", "§2.4",
     retrieved_session_has_fd},
}};

}  // namespace

std::span<const Invariant> kernel_invariants() {
  return kInvariants;
}

std::vector<std::string_view> violated_invariants(const KernelModel& k) {
  std::vector<std::string_view> out;
  for (const auto& inv : kInvariants) {
    if (!inv.holds(k))
      out.push_back(inv.name);
  }
  return out;
}

}  // namespace luo
