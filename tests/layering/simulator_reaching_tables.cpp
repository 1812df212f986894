// Not built: the input of the simulator_independence_catches test. It includes nothing from
// model/ directly, which the old grep of direct includes accepted, but the impl header it does
// include brings in the fd-store machine's table.
#include "luo/impl/fd_store.hpp"
