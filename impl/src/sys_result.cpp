#include "luo/impl/sys_result.hpp"
#include "luo/impl/kernel_port.hpp"
