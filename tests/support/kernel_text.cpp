#include "kernel_text.hpp"

#include <sstream>

namespace luo::testing {

std::string errno_text(int e) {
  if (e == 0)
    return "ok";
  if (auto known = errno_from_int(e))
    return std::string(errno_name(*known));
  return "errno " + std::to_string(e);
}

std::string render_model(const KernelModel& k) {
  std::ostringstream out;
  out << "boot " << k.boot_number() << " device_open " << (k.device() == DeviceState::open) << "\n";
  for (const auto& s : k.outgoing()) {
    out << "out '" << s.name << "':";
    for (const auto& f : s.files)
      out << " " << f.token;
    out << "\n";
  }
  // The simulator lists incoming sessions only once the first open deserialized them.
  const bool deserialized = k.device() == DeviceState::open || k.device() == DeviceState::closed;
  if (!deserialized)
    return out.str();
  for (const auto& s : k.incoming()) {
    std::string_view state;
    bool open = false;
    switch (s.state) {
      case IncomingSessionState::deserialized:
        state = "deserialized";
        break;
      case IncomingSessionState::retrieved:
        state = "retrieved", open = true;
        break;
      case IncomingSessionState::finished:
        state = "finished", open = true;
        break;
      case IncomingSessionState::leaked:
        state = "retrieved";
        break;
      case IncomingSessionState::gone:
      case IncomingSessionState::dropped:
        continue;
    }
    out << "in '" << s.name << "' " << state << " open " << open << ":";
    for (const auto& f : s.files) {
      std::string_view fs;
      switch (f.state) {
        case FileState::restorable:
          fs = "preserved";
          break;
        case FileState::retrieved:
          fs = "retrieved";
          break;
        case FileState::retrieve_failed:
          fs = "failed";
          break;
        case FileState::finished:
          fs = "finished";
          break;
        case FileState::discarded:
          fs = "discarded";
          break;
        case FileState::preserved:
        case FileState::frozen:
        case FileState::unpreserved:
        case FileState::dropped:
          fs = state_name(f.state);
          break;
      }
      out << " " << f.token << "=" << fs;
      if (f.state == FileState::retrieve_failed)
        out << "/" << errno_text(errno_value(f.sticky_error));
    }
    out << "\n";
  }
  return out.str();
}

std::string render_simulator(const SimulatedKernel::Snapshot& k) {
  std::ostringstream out;
  out << "boot " << k.boot_number << " device_open " << k.device_open << "\n";
  for (const auto& s : k.outgoing) {
    out << "out '" << s.name << "':";
    for (auto t : s.tokens)
      out << " " << t;
    out << "\n";
  }
  if (!k.incoming_deserialized || k.deserialize_failed)
    return out.str();
  for (const auto& s : k.incoming) {
    out << "in '" << s.name << "' " << incoming_session_state_name(s.state) << " open " << s.open
        << ":";
    for (const auto& f : s.files) {
      out << " " << f.token << "=" << incoming_file_state_name(f.state);
      if (f.state == SimulatedKernel::IncomingFileState::failed)
        out << "/" << errno_text(f.error);
    }
    out << "\n";
  }
  return out.str();
}

std::string render_log(const std::vector<HandlerCall>& log) {
  std::ostringstream out;
  for (const auto& c : log)
    out << handler_op_name(c.op) << "(" << c.session << "," << c.token << ") ";
  return out.str();
}

}  // namespace luo::testing
