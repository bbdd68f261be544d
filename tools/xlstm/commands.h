#pragma once
// Each subcommand registers itself on the app; main() dispatches and turns errors into exit codes.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace xlstm::cli {

void add_info(CLI::App& app);
void add_logits(CLI::App& app);
void add_generate(CLI::App& app);
void add_bench(CLI::App& app);

// "1,2,3" -> ids; throws InvalidInput naming the flag on a bad entry.
std::vector<int32_t> parse_ids(const std::string& text, const std::string& flag);
// Applies --threads (0 = all cores).
void apply_threads(int threads);

}  // namespace xlstm::cli
