// Compiles the header alone, with the system layer's view (cmake/base_layer.cmake): SysResult
// needs nothing but the vocabulary.
#include "luo/impl/sys_result.hpp"
