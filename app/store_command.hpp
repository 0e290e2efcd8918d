#pragma once
// `mop store check [--data-dir DIR]`: opens the store read-only, walks every record and prints a
// summary and every record that cannot be read. Exit code 0 (sound), 1 (problems, or the store
// cannot be opened), 2 (usage).
#include <string>
#include <vector>

namespace mop::app {

int run_store_command(const std::vector<std::string>& args);

}  // namespace mop::app
