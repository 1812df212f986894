#include "luo/adapters/uapi.hpp"
#include "luo/adapters/ioctl_backend.hpp"
