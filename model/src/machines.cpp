// Instantiates every machine header once so a table error shows up in the library build.
#include "luo/model/device_machine.hpp"
#include "luo/model/fd_store_machine.hpp"
#include "luo/model/file_machine.hpp"
#include "luo/model/incoming_session_machine.hpp"
#include "luo/model/outgoing_session_machine.hpp"
