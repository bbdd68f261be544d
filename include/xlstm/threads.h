#pragma once

namespace xlstm {

// Number of CPU threads used by the engine's loops and by OpenBLAS. 0 = all cores.
void set_num_threads(int n);
int num_threads();

}  // namespace xlstm
