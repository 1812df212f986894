// Not built by default: the input of the simulator_cannot_see_impl test. It includes nothing from
// model/ directly, but the impl header it includes brings in the fd-store machine's table; with
// the simulator's view of the tree (cmake/base_layer.cmake) the header is not found.
#include "luo/impl/fd_store.hpp"
