// vm_init.hpp: what /init's boots share, whichever test they run: ending the VM and loading the
// next boot (the same kernel and /init, the command line with the next luo_stage).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace luo::vm {

// Prints `why`, syncs and reboots; with qemu -no-reboot that ends the VM.
[[noreturn]] void power_off(const char* why);

// A host file and the path it gets inside the initramfs.
using ExtraFile = std::pair<std::string, std::string>;

// The initramfs: /dev/console, /proc, /init, /bzImage, and `extra` files with their parent
// directories.
bool write_initramfs(int fd, const std::string& init_path, const std::string& kernel_path,
                     const std::vector<ExtraFile>& extra = {});

// kexec_file_load of /bzImage with a fresh initramfs of /init, /bzImage and `extra` (files of
// this root filesystem; Tier 2 carries systemd and its units to the next boots that way) and
// `cmdline` with luo_stage=boot+1. Empty on success, else why not.
std::string load_next_boot(const std::string& cmdline, int boot,
                           const std::vector<ExtraFile>& extra = {});

}  // namespace luo::vm
