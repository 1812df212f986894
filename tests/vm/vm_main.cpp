// luo-vm: the project's test program for real LUO kernels.
//
//   as /init (pid 1) in qemu   runs boot N of the scenarios against /dev/liveupdate, then
//                              kexecs into boot N+1 (same kernel, same initramfs)
//   luo-vm simulate [--profile P]         the same boots against SimulatedKernel, on the host
//   luo-vm mkinitrd --kernel K --out F [--add HOST=GUEST]...
//                                         the initramfs: this binary as /init, plus the kernel
//                                         (and, for Tier 1, systemd-shutdown and its libraries)
//   luo-vm compare [--all] SIM.log VM.log  step-by-step differential of the two runs
//   luo-vm boot                           under luo-sim (tools/luo-sim): boot $LUO_SIM_BOOT of
//                                         the scenarios against "/dev/liveupdate", then a kexec
//                                         (luo-vm-dyn, the dynamically linked build, is the one
//                                         luo-sim can intercept)
//   luo-vm tier2 service|driver           the commands of Tier 2's units under the real systemd
// With luo_test=systemd-shutdown on the kernel command line, /init runs issue 12's Tier 1
// (systemd_shutdown.hpp) instead of the scenarios; with luo_test=systemd-pid1, Tier 2
// (systemd_pid1.hpp).
#include <fcntl.h>
#include <sys/klog.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "cpio_writer.hpp"
#include "luo/adapters/linux_kernel.hpp"
#include "luo/adapters/memfd.hpp"
#include "luo/adapters/simulated_kernel.hpp"
#include "scenarios.hpp"
#include "systemd_pid1.hpp"
#include "systemd_shutdown.hpp"
#include "vm_init.hpp"

namespace luo::vm {

[[noreturn]] void power_off(const char* why) {
  std::printf("%s\n", why);
  std::fflush(stdout);
  ::sync();
  ::reboot(RB_AUTOBOOT);  // with qemu -no-reboot this ends the VM
  for (;;)
    ::pause();
}

bool write_initramfs(int fd, const std::string& init_path, const std::string& kernel_path,
                     const std::vector<ExtraFile>& extra) {
  std::string init, kernel;
  if (!read_file(init_path, init) || !read_file(kernel_path, kernel))
    return false;
  CpioWriter cpio(fd);
  if (!(cpio.directory("dev") && cpio.char_device("dev/console", 5, 1) && cpio.directory("proc") &&
        cpio.file("init", init, 0755) && cpio.file("bzImage", kernel, 0644)))
    return false;
  std::set<std::string> dirs = {"dev", "proc"};
  for (const auto& [host, guest] : extra) {
    std::string contents;
    if (!read_file(host, contents))
      return false;
    std::string path = guest.substr(guest.find_first_not_of('/'));
    for (auto slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      if (dirs.insert(path.substr(0, slash)).second && !cpio.directory(path.substr(0, slash)))
        return false;
    }
    struct stat st {};
    const std::uint32_t mode = ::stat(host.c_str(), &st) == 0 && (st.st_mode & 0111) ? 0755 : 0644;
    if (!cpio.file(path, contents, mode))
      return false;
  }
  return cpio.finish();
}

std::string load_next_boot(const std::string& cmdline, int boot,
                           const std::vector<ExtraFile>& extra) {
  // Same kernel, the same /init rebuilt into a memfd.
  auto initrd = memfd::create("initrd");
  if (!initrd.ok() || !write_initramfs(initrd.value().get(), "/init", "/bzImage", extra))
    return "cannot rebuild the initramfs";
  std::string next;
  std::istringstream words(cmdline);
  for (std::string w; words >> w;) {
    if (w.rfind("luo_stage=", 0) != 0)
      next += w + " ";
  }
  next += "luo_stage=" + std::to_string(boot + 1);
  UniqueFd kernel_fd(::open("/bzImage", O_RDONLY | O_CLOEXEC));
  if (::syscall(SYS_kexec_file_load, kernel_fd.get(), initrd.value().get(), next.size() + 1,
                next.c_str(), 0UL) != 0) {
    return "kexec_file_load: " + std::string(std::strerror(errno));
  }
  return {};
}

}  // namespace luo::vm

namespace {

using namespace luo;
using namespace luo::vm;

constexpr const char* kUsage =
    "usage: luo-vm <command> [options]\n"
    "  simulate [--profile 7.2]            run every boot's scenarios on SimulatedKernel\n"
    "  mkinitrd --kernel BZIMAGE --out F [--add HOST=GUEST]...\n"
    "                                      write the VM initramfs (this binary is its /init)\n"
    "  compare [--all] SIMULATED.log VM.log  compare the observations of the two runs\n"
    "                                      (--all: the real_only_ scenarios too)\n"
    "  boot                                under luo-sim: boot $LUO_SIM_BOOT, then kexec\n"
    "  tier2 service|driver                Tier 2's unit commands, under the real systemd\n"
    "As pid 1 it is /init: boot N is read from luo_stage=N on the kernel command line.\n";

void release(Held& held) {
  while (!held.objects.empty())
    held.objects.pop_back();
  held.fds.clear();
}

std::string cmdline_value(const std::string& cmdline, const std::string& key) {
  std::istringstream in(cmdline);
  std::string word;
  while (in >> word) {
    if (word.rfind(key + "=", 0) == 0)
      return word.substr(key.size() + 1);
  }
  return {};
}

// The kernel's own LUO messages, echoed so the host log shows them despite loglevel=1.
void echo_kernel_log() {
  std::vector<char> buf(1 << 20);
  const int n = ::klogctl(3 /* SYSLOG_ACTION_READ_ALL */, buf.data(), static_cast<int>(buf.size()));
  if (n <= 0)
    return;
  std::istringstream lines(std::string(buf.data(), static_cast<std::size_t>(n)));
  std::string line;
  while (std::getline(lines, line)) {
    if (line.find("liveupdate") != std::string::npos || line.find("KHO") != std::string::npos ||
        line.find("luo") != std::string::npos) {
      std::printf("LUO-KMSG %s\n", line.c_str());
    }
  }
}

int run_as_init() {
  ::setvbuf(stdout, nullptr, _IOLBF, 0);
  ::mount("devtmpfs", "/dev", "devtmpfs", 0, nullptr);
  ::mount("proc", "/proc", "proc", 0, nullptr);
  std::string cmdline;
  read_file("/proc/cmdline", cmdline);
  while (!cmdline.empty() && (cmdline.back() == '\n' || cmdline.back() == ' '))
    cmdline.pop_back();
  const std::string stage_text = cmdline_value(cmdline, "luo_stage");
  const int boot = stage_text.empty() ? 1 : std::atoi(stage_text.c_str());
  const auto profile =
      parse_profile(cmdline_value(cmdline, "luo_profile")).value_or(kDefaultProfile);
  std::printf("LUO-BOOT %d profile %s\n", boot, std::string(profile_name(profile)).c_str());
  echo_kernel_log();

  if (cmdline_value(cmdline, "luo_test") == kSystemdShutdownTest)
    run_systemd_shutdown_boot(boot, cmdline);
  if (cmdline_value(cmdline, "luo_test") == kSystemdPid1Test)
    run_systemd_pid1_boot(boot, cmdline);

  LinuxKernel kernel;
  Recorder rec(stdout, profile);
  Held held;
  device_identity(boot, kernel, rec, /*real_kernel=*/true);
  run_boot(boot, kernel, rec, held, /*real_kernel=*/true);
  std::printf("LUO-SUMMARY boot=%d scenarios=%d failures=%d\n", boot, rec.scenarios(),
              rec.failures());
  if (boot >= kBoots)
    power_off("LUO-VM-DONE");
  if (auto why = load_next_boot(cmdline, boot); !why.empty())
    power_off(("LUO-VM-ERROR " + why).c_str());
  std::printf("LUO-KEXEC into boot %d\n", boot + 1);
  std::fflush(stdout);
  ::reboot(RB_KEXEC);  // returns only on failure, e.g. a freeze failure
  power_off(("LUO-VM-ERROR reboot(KEXEC): " + std::string(std::strerror(errno))).c_str());
}

int simulate(const std::vector<std::string>& args) {
  KernelProfile profile = kDefaultProfile;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--profile" && i + 1 < args.size()) {
      auto p = parse_profile(args[++i]);
      if (!p) {
        std::cerr << "luo-vm: unknown profile " << args[i] << "\n";
        return 2;
      }
      profile = *p;
    } else {
      std::cerr << kUsage;
      return 2;
    }
  }
  SimulatedKernel kernel(profile);
  Recorder rec(stdout, profile);
  Held held;
  for (int boot = 1; boot <= kBoots; ++boot) {
    std::printf("LUO-BOOT %d profile %s\n", boot, std::string(profile_name(profile)).c_str());
    device_identity(boot, kernel, rec, /*real_kernel=*/false);
    run_boot(boot, kernel, rec, held, /*real_kernel=*/false);
    std::printf("LUO-SUMMARY boot=%d scenarios=%d failures=%d\n", boot, rec.scenarios(),
                rec.failures());
    if (boot < kBoots) {
      if (!kernel.kexec().ok()) {
        std::printf("LUO-VM-ERROR simulated kexec failed\n");
        return 1;
      }
      release(held);  // the processes of the old boot are gone
    }
  }
  release(held);
  std::printf("LUO-VM-DONE\n");
  return rec.failures() == 0 ? 0 : 1;
}

// One boot under luo-sim: the process plays /init, the interception plays the kernel. The
// sessions stay open in `held` until the kexec, which the simulated kernel turns into the end of
// this process.
int boot_under_luo_sim() {
  const char* socket = std::getenv("LUO_SIM_SOCKET");
  const char* boot_text = std::getenv("LUO_SIM_BOOT");
  if (socket == nullptr || boot_text == nullptr) {
    std::cerr << "luo-vm boot: not running under luo-sim (no LUO_SIM_SOCKET/LUO_SIM_BOOT); "
                 "refusing to kexec this machine\n";
    return 2;
  }
  ::setvbuf(stdout, nullptr, _IOLBF, 0);
  const int boot = std::atoi(boot_text);
  const char* profile_text = std::getenv("LUO_SIM_PROFILE");
  const auto profile = parse_profile(profile_text ? profile_text : "").value_or(kDefaultProfile);
  std::printf("LUO-BOOT %d profile %s\n", boot, std::string(profile_name(profile)).c_str());
  LinuxKernel kernel;
  Recorder rec(stdout, profile);
  Held held;
  // luo-sim enforces the frozen mapping of a preserved memfd too, so the real_only_
  // scenarios run (the comparison with the in-process simulator leaves them out).
  run_boot(boot, kernel, rec, held, /*real_kernel=*/true);
  std::printf("LUO-SUMMARY boot=%d scenarios=%d failures=%d\n", boot, rec.scenarios(),
              rec.failures());
  if (boot >= kBoots) {
    std::printf("LUO-VM-DONE\n");
    return rec.failures() == 0 ? 0 : 1;
  }
  if (rec.failures() != 0)
    return 1;
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  const std::string next = "luo_stage=" + std::to_string(boot + 1);
  if (::syscall(SYS_kexec_file_load, self.get(), -1, next.size() + 1, next.c_str(),
                0x4UL /* KEXEC_FILE_NO_INITRAMFS */) != 0) {
    std::printf("LUO-VM-ERROR kexec_file_load: %s\n", std::strerror(errno));
    return 1;
  }
  std::printf("LUO-KEXEC into boot %d\n", boot + 1);
  std::fflush(stdout);
  const auto r = kernel.kexec();  // returns only on failure
  std::printf("LUO-VM-ERROR reboot(KEXEC): %s\n", std::strerror(r.raw_errno()));
  return 1;
}

int mkinitrd(const std::vector<std::string>& args) {
  std::string kernel, out;
  std::vector<ExtraFile> extra;
  for (std::size_t i = 0; i + 1 < args.size(); i += 2) {
    if (args[i] == "--kernel")
      kernel = args[i + 1];
    if (args[i] == "--out")
      out = args[i + 1];
    if (args[i] == "--add") {
      const auto eq = args[i + 1].find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == args[i + 1].size()) {
        std::cerr << "luo-vm: --add wants HOST=GUEST, not " << args[i + 1] << "\n";
        return 2;
      }
      extra.emplace_back(args[i + 1].substr(0, eq), args[i + 1].substr(eq + 1));
    }
  }
  if (kernel.empty() || out.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd || !write_initramfs(fd.get(), "/proc/self/exe", kernel, extra)) {
    std::cerr << "luo-vm: cannot write " << out << ": " << std::strerror(errno) << "\n";
    return 1;
  }
  return 0;
}

// Observations per scenario, in order, from a log that may hold other lines too.
std::map<std::string, std::vector<nlohmann::json>> observations(const std::string& path, bool& ok) {
  std::map<std::string, std::vector<nlohmann::json>> out;
  std::string text;
  ok = read_file(path, text);
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto at = line.find("LUO-OBS ");
    if (at == std::string::npos)
      continue;
    auto j = nlohmann::json::parse(line.substr(at + 8), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
      std::cerr << path << ": unreadable observation: " << line << "\n";
      ok = false;
      continue;
    }
    out[j.value("s", "")].push_back(std::move(j));
  }
  return out;
}

int compare(std::vector<std::string> args) {
  // --all: the real_only_ scenarios too, for a run that reproduces them (luo-sim).
  bool all = false;
  if (!args.empty() && args[0] == "--all") {
    all = true;
    args.erase(args.begin());
  }
  if (args.size() != 2) {
    std::cerr << kUsage;
    return 2;
  }
  bool ok_sim = false, ok_vm = false;
  auto sim = observations(args[0], ok_sim);
  auto vm = observations(args[1], ok_vm);
  if (!ok_sim || !ok_vm)
    return 1;
  int differences = 0, compared = 0;
  const auto report = [&](const std::string& what) {
    ++differences;
    std::printf("DIFF %s\n", what.c_str());
  };
  for (const auto& [scenario, steps] : vm) {
    if (!all && scenario.rfind("real_only_", 0) == 0)
      continue;
    if (!sim.count(scenario))
      report(scenario + ": only the real kernel ran it");
  }
  for (const auto& [scenario, steps] : sim) {
    auto it = vm.find(scenario);
    if (it == vm.end()) {
      report(scenario + ": the real kernel did not run it");
      continue;
    }
    ++compared;
    const auto& real = it->second;
    for (std::size_t i = 0; i < std::max(steps.size(), real.size()); ++i) {
      if (i >= steps.size() || i >= real.size()) {
        report(scenario + " step " + std::to_string(i) + ": present in only one run");
        break;
      }
      const std::string where =
          scenario + " step " + std::to_string(i) + " (" + steps[i].value("op", "") + ") field '";
      for (const auto& [field, value] : steps[i].items()) {
        const auto other = real[i].find(field);
        if (other == real[i].end() || *other != value) {
          report(where + field + "': simulator " + value.dump() + ", kernel " +
                 (other == real[i].end() ? "<missing>" : other->dump()));
        }
      }
      for (const auto& [field, value] : real[i].items()) {
        if (!steps[i].contains(field)) {
          report(where + field + "': simulator <missing>, kernel " + value.dump());
        }
      }
    }
  }
  std::printf("compare: %d scenarios compared, %d differences\n", compared, differences);
  return differences == 0 && compared > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (::getpid() == 1)
    return run_as_init();
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "simulate")
    return simulate(args);
  if (command == "mkinitrd")
    return mkinitrd(args);
  if (command == "compare")
    return compare(args);
  if (command == "boot")
    return boot_under_luo_sim();
  if (command == "tier2")
    return run_systemd_pid1_unit(args);
  std::cerr << "luo-vm: unknown command '" << command << "'\n" << kUsage;
  return 2;
}
