// luo/proofs/check_command.hpp: `luo-lifecycle check`, the bounded proof from the command line.
//
//   luo-lifecycle check                         default bounds, verdict table
//   luo-lifecycle check --owners 3 --fds 2 --symmetry --json
//   luo-lifecycle check --mutant token_reuse    a deliberately broken manager: must fail
//   luo-lifecycle check --list-properties --markdown   the table of docs/properties.md
//
// Exit status: 0 every checked property holds over the whole bounded space, 1 a property is
// violated, 2 usage error, 3 the search stopped at --max-states without a violation.
#pragma once

#include <iosfwd>
#include <span>
#include <string_view>

namespace luo::proofs {

int run_check_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace luo::proofs
