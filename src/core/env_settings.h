// Environment variables that switch measurement and debugging settings (README's list), read
// strictly: unset or empty gives the fallback, anything the setting does not take is an
// InvalidInput naming the variable, what it takes and what it got — a misspelt value must not
// quietly measure the default.
#pragma once

#include <cstdint>
#include <initializer_list>

namespace xlstm {

// on / off (also 1 / 0).
bool env_switch(const char* name, bool fallback);
// A whole number lo .. hi.
uint32_t env_count(const char* name, uint32_t fallback, uint32_t lo, uint32_t hi);
// A number lo .. hi (decimal, e.g. milliseconds).
double env_number(const char* name, double fallback, double lo, double hi);
// One of choices: its index in the list (fallback where unset).
int env_choice(const char* name, int fallback, std::initializer_list<const char*> choices);

}  // namespace xlstm
