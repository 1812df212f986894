#include "luo/test/mutants.hpp"

namespace luo::test {
namespace {
// One process runs one property at a time, single-threaded (as SimulatedKernel requires).
Mutant g_active = Mutant::none;
}  // namespace

Mutant active_mutant() {
  return g_active;
}
void set_active_mutant(Mutant m) {
  g_active = m;
}

}  // namespace luo::test
