// standalone_driver.cpp: main() for a fuzz target built without libFuzzer (the gcc and the
// sanitizer presets). Runs LLVMFuzzerTestOneInput once per file named on the command line, or
// per regular file inside a named directory, in name order so a failure reproduces the same
// way. Arguments starting with '-' are libFuzzer options and are ignored, so ctest can pass the
// same command line to either build.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

int run_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", path.c_str());
    return 1;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  // A copy of exactly `size` bytes, so ASan sees a read past the end as libFuzzer would.
  std::vector<std::uint8_t> exact(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(exact.data(), exact.size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.starts_with("-"))
      continue;
    if (std::filesystem::is_directory(arg)) {
      for (const auto& e : std::filesystem::directory_iterator(arg))
        if (e.is_regular_file())
          files.push_back(e.path());
    } else {
      files.emplace_back(arg);
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    std::fprintf(stderr, "no inputs: pass corpus files or directories\n");
    return 1;
  }
  for (const auto& f : files)
    if (run_file(f) != 0)
      return 1;
  std::printf("ran %zu inputs\n", files.size());
  return 0;
}
