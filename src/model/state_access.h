#pragma once
// What a backend may do to a State beyond the public API: hold its device copy (the mirror) and
// say which copy is newer. See the comment at the top of include/xlstm/state.h.
#include <memory>
#include <vector>

#include "xlstm/state.h"

namespace xlstm {

struct StateAccess {
  static StateMirror* mirror(State& s) { return s.mirror_.get(); }
  // Installs a fresh mirror; its contents count as out of date until uploaded.
  static void set_mirror(State& s, std::unique_ptr<StateMirror> m) {
    if (s.host_stale_) s.sync_host();  // keep the old mirror's values (a zero state stays lazy)
    s.mirror_ = std::move(m);
    s.mirror_stale_ = true;
  }
  static bool mirror_stale(const State& s) { return s.mirror_stale_; }
  // The host copy is all zeros (perhaps unallocated): clear the device copy instead of uploading.
  static bool host_is_zero(const State& s) { return s.host_is_zero(); }
  // The host blocks as they are, without download: the backend's upload source.
  static const std::vector<BlockState>& host_blocks(const State& s) { return s.blocks_; }
  static void mark_uploaded(State& s) { s.mirror_stale_ = false; }
  // The backend advanced the mirror: the host copy is out of date.
  static void mark_mirror_newer(State& s) { s.host_stale_ = true; }
};

}  // namespace xlstm
