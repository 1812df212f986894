// Not built by default: the input of the simulator_cannot_see_model_tables test. A simulator source
// that reads the model's tables would no longer be an independent oracle; with the simulator's
// view of the tree (cmake/base_layer.cmake) the header is not found.
#include "luo/model/fd_store_machine.hpp"
