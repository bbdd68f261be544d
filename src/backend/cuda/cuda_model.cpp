// The CUDA backend of Model: weights on the GPU (bf16, or float32 in the parity mode), one
// workspace that only grows (no allocation per token), state in a CudaStateMirror per State,
// one stream, and the one-token step replayed from a captured CUDA graph.
//
// Numerics: the residual stream x, GEMM outputs, the cell and its state are float32; GEMM inputs
// (normed activations, the gated cell output, the SwiGLU output) are stored in the weight type.
// bf16 decode keeps a bf16 copy of x instead of storing normed rows: its GEMVs normalise as they
// read (the norms' weights folded into the following W at load).
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <tuple>

#include "backend/cuda/check.h"
#include "backend/cuda/cuda_block.h"
#include "backend/cuda/cuda_state.h"
#include "backend/cuda/decode_persistent.h"
#include "backend/cuda/gemm.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/ops.h"
#include "blocks/mlstm_large/weight_plan.h"
#include "core/env_settings.h"
#include "model/backend.h"
#include "model/state_access.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

namespace {

size_t type_size(WeightType t) {
  return t == WeightType::BF16 ? 2 : 4;
}
size_t align256(size_t n) {
  return (n + 255) / 256 * 256;
}

// Device tensors of one block (or of the model level), indexed by WeightField; empty = absent.
using FieldBuffers = std::array<DeviceBuffer, kNumWeightFields>;

// Pinned host memory that grows on demand (fast, asynchronous copies of ids and draws).
class PinnedBuffer {
 public:
  ~PinnedBuffer() {
    if (p_ != nullptr) cudaFreeHost(p_);
  }
  void* get(size_t bytes) {
    if (bytes > n_) {
      if (p_ != nullptr) XLSTM_CUDA_CHECK(cudaFreeHost(p_));
      p_ = nullptr;
      XLSTM_CUDA_CHECK(cudaMallocHost(&p_, bytes));
      n_ = bytes;
    }
    return p_;
  }

 private:
  void* p_ = nullptr;
  size_t n_ = 0;
};

// Pointers into the workspace for one shape of call.
struct Buffers {
  int32_t* ids;
  float* x;        // [T, E] residual stream
  void* xb;        // [T, E] its bf16 copy, kept by decode's fused GEMVs
  void* u;         // [T, E] normed input (GEMM type); also the final rows [R, E]
  float* proj;     // [T, 2qk + 2v + 2NH]
  float* h;        // [T, v] cell output
  void* hn;        // [T, v] normed and gated (GEMM type)
  float* up;       // [T, 2F] (shares memory with proj/h/hn, dead by then)
  void* act;       // [T, F] (GEMM type)
  float* logits;   // [R, V]
  void* cell;      // cell scratch
  unsigned* sync;  // the step kernel's per-(b, head) counters, at the arena's start
  uint64_t* ll;    // the persistent decode's cross-block words
  void* sample;    // sampling scratch [B, V]
  int32_t* tokens;
  double* draws;
  int32_t* pen_ids;  // [B·V]
  int32_t* pen_off;  // [B + 1]
};

class CudaModel final : public ModelBackend {
 public:
  CudaModel(const ModelConfig& config, WeightType weight_type, bool graphs)
      : c(config),
        wt(weight_type),
        use_graphs(graphs && env_switch("XLSTM_GRAPHS", true)),
        persistent_allowed(env_switch("XLSTM_PERSISTENT", true)),
        persistent_pool_in(env_switch("XLSTM_PD_POOL_IN", false)),
        persistent_jitter_ns(env_count("XLSTM_PD_JITTER_NS", 0, 0, kMaxJitterNs)),
        persistent_dump(std::getenv("XLSTM_PD_DUMP") != nullptr ? std::getenv("XLSTM_PD_DUMP")
                                                                : "") {
    read_gemv_settings(), pdl_enabled();  // a bad setting fails here, not at the first step
    require_device();
    XLSTM_CUDA_CHECK(cudaStreamCreate(&stream));
    gemm = std::make_unique<Gemm>();
    blocks.resize(static_cast<size_t>(c.num_blocks));
  }
  ~CudaModel() override {
    clear_graphs();
    if (stream != nullptr) cudaStreamDestroy(stream);
  }

  ModelConfig c;
  WeightType wt;
  bool use_graphs;
  bool persistent_allowed;        // XLSTM_PERSISTENT=off when the model was made: per-kernel decode
  bool persistent_pool_in;        // see PersistentDecode::pool_in
  uint32_t persistent_jitter_ns;  // see PersistentDecode::jitter_ns
  std::string persistent_dump;    // XLSTM_PD_DUMP when the model was made: dump_persistent_words
  Stream stream = nullptr;
  std::unique_ptr<Gemm> gemm;
  FieldBuffers top;
  std::vector<FieldBuffers> blocks;

  DeviceBuffer arena;
  uint64_t arena_generation = 0;
  size_t sync_zeroed = 0;  // bytes at the arena's start known to be zero counters
  Buffers buf{};
  PinnedBuffer pinned_ids, pinned_misc, pinned_tokens;
  int64_t sampled_rows = -1;  // rows of a started sampling (sample_start), -1: none
  int64_t kept_rows = 0, kept_B = 0;

  // Decode graphs by DecodeGraphKey (the arena's generation as the workspace's); a key runs
  // eagerly once before capture.
  std::map<DecodeGraphKey, cudaGraphExec_t> graphs;
  std::map<DecodeGraphKey, int> graph_seen;
  int64_t graph_replays = 0;

  void clear_graphs() {
    for (auto& [k, g] : graphs) cudaGraphExecDestroy(g);
    graphs.clear();
    graph_seen.clear();
  }

  const void* field(const FieldBuffers& f, WeightField w) const {
    return f[static_cast<int>(w)].get();
  }
  const float* vec(const FieldBuffers& f, WeightField w) const {
    return static_cast<const float*>(field(f, w));
  }
  WeightType field_type(WeightField f) const { return is_matrix(f) ? wt : WeightType::F32; }
  // bf16 models run the cell's chunkwise products on tensor cores; float32 ones stay float32.
  bool tensor_cores() const { return wt == WeightType::BF16; }

  // Allocates every field of the config, zeroed (absent biases inside b_in stay zero).
  void allocate_fields() {
    auto alloc = [&](FieldBuffers& set, WeightField f) {
      const FieldShape s = field_shape(c, f);
      if (s.numel() == 0) return;
      const size_t bytes = static_cast<size_t>(s.numel()) * type_size(field_type(f));
      set[static_cast<int>(f)] = DeviceBuffer(bytes);
      XLSTM_CUDA_CHECK(cudaMemset(set[static_cast<int>(f)].get(), 0, bytes));
    };
    for (WeightField f : {WeightField::Embedding, WeightField::OutNormW, WeightField::OutNormB,
                          WeightField::LmHead})
      alloc(top, f);
    for (auto& b : blocks) {
      for (int f = static_cast<int>(WeightField::NormMlstmW); f < kNumWeightFields; ++f)
        alloc(b, static_cast<WeightField>(f));
    }
  }

  // bf16 models: each block's RMS norm weights are folded into the Linear layer that reads the
  // norm (W_in, W_up; the out norm's into an untied LM head), so that decode's GEMVs normalise x
  // as they read it (gemv_bf16_rms) and the prefill's norm kernels run with unit weight. Norms with
  // a bias, float32 models (the parity mode) and XLSTM_FUSE=off keep weights as loaded.
  bool blocks_folded = false, out_folded = false;
  void fold_norm_weights() {
    static const bool allowed = env_switch("XLSTM_FUSE", true);
    using WF = WeightField;
    const bool biases = std::any_of(blocks.begin(), blocks.end(), [&](const FieldBuffers& b) {
      return vec(b, WF::NormMlstmB) != nullptr || vec(b, WF::NormFfnB) != nullptr;
    });
    if (!allowed || wt != WeightType::BF16 || biases) return;
    const int64_t E = c.embedding_dim, W = 2 * c.qk_dim() + 2 * c.v_dim() + 2 * c.num_heads;
    for (FieldBuffers& b : blocks) {
      scale_columns(b[static_cast<int>(WF::WIn)].get(), wt, W, E, vec(b, WF::NormMlstmW), stream);
      scale_columns(b[static_cast<int>(WF::WUp)].get(), wt, 2 * c.ffn_dim(), E,
                    vec(b, WF::NormFfnW), stream);
    }
    blocks_folded = true;
    if (c.add_out_norm && !c.tie_word_embeddings && vec(top, WF::OutNormB) == nullptr) {
      scale_columns(top[static_cast<int>(WF::LmHead)].get(), wt, c.vocab_size, E,
                    vec(top, WF::OutNormW), stream);
      out_folded = true;
    }
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  // Decode of one sequence as one persistent kernel (decode_persistent.h) where the folded bf16
  // weights and the device allow it: the table of every block's weights, on the device.
  DeviceBuffer persistent_layers;
  void prepare_persistent_decode() {
    if (!persistent_allowed || !blocks_folded ||
        !persistent_decode_supported(c.embedding_dim, c.num_heads, c.qk_head_dim(), c.v_head_dim(),
                                     c.ffn_dim()))
      return;
    using WF = WeightField;
    std::vector<PersistentLayer> layers;
    for (const FieldBuffers& b : blocks)
      layers.push_back({field(b, WF::WIn), vec(b, WF::BIn), vec(b, WF::MhNormW),
                        vec(b, WF::MhNormB), field(b, WF::WOut), vec(b, WF::BOut),
                        field(b, WF::WUp), vec(b, WF::BUp), field(b, WF::WDown),
                        vec(b, WF::BDown)});
    persistent_layers = DeviceBuffer(layers.size() * sizeof(PersistentLayer));
    copy_to_device(persistent_layers.get(), layers.data(), persistent_layers.bytes());
  }
  int64_t persistent_words() const {
    return persistent_decode_words(c.embedding_dim, c.num_heads, c.qk_head_dim(), c.v_head_dim(),
                                   c.ffn_dim(), c.num_blocks);
  }
  void finish_load() {
    fold_norm_weights();
    prepare_persistent_decode();
  }

  // 4096 tokens over the batch: big GEMMs (the prefill runs at the GEMMs' rate) in a workspace of
  // under 1 GiB at the 7B shape; whole 64-token chunks per sequence.
  int64_t default_segment_len(int64_t B) const override {
    const int64_t per_seq = 4096 / std::max<int64_t>(B, 1);
    return per_seq >= 64 ? per_seq / 64 * 64 : std::max<int64_t>(per_seq, 1);
  }

  size_t weight_bytes() const override {
    size_t total = 0;
    auto add = [&](const FieldBuffers& set) {
      for (int f = 0; f < kNumWeightFields; ++f)
        if (is_matrix(static_cast<WeightField>(f))) total += set[f].bytes();
    };
    add(top);
    for (const auto& b : blocks) add(b);
    return total;
  }

  // Lays out the workspace for T tokens of B sequences (R logit rows) and grows it if needed.
  void prepare(int64_t B, int64_t S, int64_t R, int64_t chunk, bool chunkwise) {
    const int64_t T = B * S, E = c.embedding_dim, V = c.vocab_size, v = c.v_dim(), F = c.ffn_dim(),
                  W = 2 * c.qk_dim() + 2 * v + 2 * c.num_heads;
    const size_t g = type_size(wt);
    // The cell's scratch depends on its path, which depends on the strides and on the pointers'
    // alignment: the probe has the real strides and offsets from a 256-byte aligned base (the
    // projection rows' start); it is never dereferenced.
    const int64_t qk = c.qk_dim();
    auto at = [](int64_t floats) {
      return reinterpret_cast<const float*>(uintptr_t{256} + static_cast<uintptr_t>(floats) * 4);
    };
    const CellBatch probe{B,
                          S,
                          c.num_heads,
                          c.qk_head_dim(),
                          c.v_head_dim(),
                          {at(0), W},
                          {at(qk), W},
                          {at(2 * qk), W},
                          {at(2 * qk + 2 * v), W},
                          {at(2 * qk + 2 * v + c.num_heads), W},
                          nullptr,
                          v};
    const size_t cell = chunkwise ? mlstm_chunkwise_scratch_bytes(probe, chunk, tensor_cores()) : 0;
    const size_t sync = mlstm_step_sync_bytes(probe);
    // Offsets of each piece; the mLSTM half and the FFN half of a block share one region.
    size_t off = 0;
    auto take = [&](size_t bytes) {
      const size_t at = off;
      off += align256(bytes);
      return at;
    };
    // The counters first (the step kernels leave them zero). A smaller batch's layout puts other
    // buffers over the larger batch's counters: what lies past this layout's counters is dirty.
    const size_t o_sync = take(sync);
    sync_zeroed = std::min(sync_zeroed, off);
    const size_t o_ll = take(persistent_layers.bytes() > 0 ? persistent_words() * 8 : 0);
    const size_t o_ids = take(T * 4), o_x = take(T * E * 4), o_xb = take(T * E * 2),
                 o_u = take(T * E * g);
    const size_t region = off;
    size_t a = region;
    auto take_in = [&](size_t& cursor, size_t bytes) {
      const size_t at = cursor;
      cursor += align256(bytes);
      return at;
    };
    const size_t o_proj = take_in(a, T * W * 4), o_h = take_in(a, T * v * 4),
                 o_hn = take_in(a, T * v * g);
    size_t b2 = region;
    const size_t o_up = take_in(b2, T * 2 * F * 4), o_act = take_in(b2, T * F * g);
    off = std::max(a, b2);
    const size_t o_logits = take(R * V * 4), o_cell = take(cell),
                 o_sample = take(sample_scratch_bytes(B, V)), o_tokens = take(B * 4),
                 o_draws = take(B * 8), o_pen = take(B * V * 4), o_pen_off = take((B + 1) * 4);
    if (off > arena.bytes()) {
      XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
      clear_graphs();
      arena = DeviceBuffer();
      arena = DeviceBuffer(off + off / 4);  // headroom: fewer regrowths
      ++arena_generation;
      sync_zeroed = 0;
    }
    char* base = arena.as<char>();
    buf.ids = reinterpret_cast<int32_t*>(base + o_ids);
    buf.x = reinterpret_cast<float*>(base + o_x);
    buf.xb = base + o_xb;
    buf.u = base + o_u;
    buf.proj = reinterpret_cast<float*>(base + o_proj);
    buf.h = reinterpret_cast<float*>(base + o_h);
    buf.hn = base + o_hn;
    buf.up = reinterpret_cast<float*>(base + o_up);
    buf.act = base + o_act;
    buf.logits = reinterpret_cast<float*>(base + o_logits);
    buf.cell = base + o_cell;
    buf.sync = reinterpret_cast<unsigned*>(base + o_sync);
    buf.ll = reinterpret_cast<uint64_t*>(base + o_ll);
    if (sync > sync_zeroed) {
      XLSTM_CUDA_CHECK(cudaMemsetAsync(buf.sync, 0, sync, stream));
      sync_zeroed = sync;
    }
    buf.sample = base + o_sample;
    buf.tokens = reinterpret_cast<int32_t*>(base + o_tokens);
    buf.draws = reinterpret_cast<double*>(base + o_draws);
    buf.pen_ids = reinterpret_cast<int32_t*>(base + o_pen);
    buf.pen_off = reinterpret_cast<int32_t*>(base + o_pen_off);
  }

  void place_state(State& state) override { mirror_of(state); }

  CudaStateMirror& mirror_of(State& state) {
    auto* m = dynamic_cast<CudaStateMirror*>(StateAccess::mirror(state));
    if (m == nullptr || !m->matches(state.layout(), state.batch())) {
      auto fresh = std::make_unique<CudaStateMirror>(state.layout(), state.batch());
      m = fresh.get();
      StateAccess::set_mirror(state, std::move(fresh));
    }
    if (StateAccess::mirror_stale(state)) {
      if (StateAccess::host_is_zero(state)) {
        m->zero(stream);
      } else {
        m->upload(StateAccess::host_blocks(state));
      }
      StateAccess::mark_uploaded(state);
    }
    return *m;
  }

  // Everything after the ids are on the device: embedding, blocks, final norm, logits, cap.
  void enqueue_forward(int64_t B, int64_t S, bool step, int64_t chunk, bool all_logits,
                       const CudaStateMirror& st) {
    const int64_t T = B * S, E = c.embedding_dim;
    using WF = WeightField;
    embedding_gather(buf.ids, T, field(top, WF::Embedding), wt, E, buf.x, stream);
    // Decode's GEMVs normalise x as they read it (norm weights folded into W at load), from its
    // bf16 copy xb, which the residual GEMVs write next to x.
    const bool fuse_norms = blocks_folded && T <= gemv_row_limit();
    if (fuse_norms) copy_rows(buf.x, T, E, E, buf.xb, WeightType::BF16, stream);
    const void* head = c.tie_word_embeddings ? field(top, WF::Embedding) : field(top, WF::LmHead);
    if (fuse_norms && step && T == 1 && persistent_layers.bytes() > 0) {
      if (enqueue_persistent(st, head)) return;
    } else {
      enqueue_blocks(B, S, step, chunk, fuse_norms, st);
    }
    enqueue_head(B, S, all_logits, fuse_norms, head);
  }

  // Debugging the persistent kernel: XLSTM_PD_DUMP=FILE appends its cross-block words (as the
  // launch left them), the state and the logits to FILE after each eager (not captured) launch,
  // and the state it started from to FILE.pre;
  // XLSTM_GRAPHS=off makes every step eager.
  void dump_persistent_words(const CudaStateMirror& st, bool before) {
    if (persistent_dump.empty()) return;
    const char* path = persistent_dump.c_str();
    if (stream_is_capturing(stream)) return;
    if (before) {  // the state the launch starts from, to FILE.pre
      std::vector<char> pre(st.bytes());
      XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
      copy_to_host(pre.data(), st.data(), pre.size());
      if (FILE* f = std::fopen((std::string(path) + ".pre").c_str(), "ab")) {
        std::fwrite(pre.data(), 1, pre.size(), f);
        std::fclose(f);
      }
      return;
    }
    std::vector<uint64_t> words(static_cast<size_t>(persistent_words()));
    std::vector<char> state(st.bytes());
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
    copy_to_host(words.data(), buf.ll, words.size() * 8);
    copy_to_host(state.data(), st.data(), state.size());
    copy_to_host(logits.data(), buf.logits, logits.size() * 4);
    if (FILE* f = std::fopen(path, "ab")) {
      std::fwrite(words.data(), 8, words.size(), f);
      std::fwrite(state.data(), 1, state.size(), f);
      std::fwrite(logits.data(), 4, logits.size(), f);
      std::fclose(f);
    }
  }

  // Decode of one sequence in one launch; true when it computed the logits too (the out norm
  // folded into the head).
  bool enqueue_persistent(const CudaStateMirror& st, const void* head) {
    const CellStateDev s0 = large_cell_state(st, 0);
    const int64_t stride = c.num_blocks > 1 ? large_cell_state(st, 1).C - s0.C : 0;
    const PersistentDecode d{c.embedding_dim,
                             c.num_heads,
                             c.qk_head_dim(),
                             c.v_head_dim(),
                             c.ffn_dim(),
                             c.vocab_size,
                             static_cast<float>(c.norm_eps),
                             static_cast<float>(c.eps),
                             static_cast<float>(c.gate_soft_cap),
                             static_cast<float>(c.output_logit_soft_cap),
                             persistent_layers.as<PersistentLayer>(),
                             c.num_blocks,
                             out_folded ? head : nullptr,
                             s0.C,
                             stride,
                             s0.n - s0.C,
                             s0.m - s0.C,
                             buf.x,
                             buf.xb,
                             buf.ll,
                             buf.logits,
                             persistent_pool_in,
                             persistent_jitter_ns};
    dump_persistent_words(st, true);
    persistent_decode(d, stream);
    dump_persistent_words(st, false);
    return out_folded;
  }

  // The model's blocks, kernel by kernel.
  void enqueue_blocks(int64_t B, int64_t S, bool step, int64_t chunk, bool fuse_norms,
                      const CudaStateMirror& st) {
    const int64_t T = B * S, E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                  F = c.ffn_dim(), W = 2 * qk + 2 * v + 2 * NH;
    const auto eps = static_cast<float>(c.norm_eps), cell_eps = static_cast<float>(c.eps);
    using WF = WeightField;
    // x += a · Wᵀ (+ bias) (and xb).
    auto residual = [&](const void* a, int64_t K, const void* Wm, int64_t N, const float* bias) {
      if (fuse_norms) {
        gemv_bf16(a, T, K, Wm, N, bias, buf.x, true, stream, buf.xb);
      } else {
        gemm->linear(a, T, K, Wm, N, wt, bias, buf.x, true, stream);
      }
    };
    for (int64_t i = 0; i < c.num_blocks; ++i) {
      const FieldBuffers& w = blocks[static_cast<size_t>(i)];
      if (!(fuse_norms && gemv_bf16_rms(buf.xb, T, E, eps, field(w, WF::WIn), W, vec(w, WF::BIn),
                                        buf.proj, false, 0.0f, stream))) {
        rms_norm(buf.x, T, E, E, blocks_folded ? nullptr : vec(w, WF::NormMlstmW),
                 vec(w, WF::NormMlstmB), eps, buf.u, wt, stream);
        gemm->linear(buf.u, T, E, field(w, WF::WIn), W, wt, vec(w, WF::BIn), buf.proj, false,
                     stream);
      }
      const auto gate_cap = static_cast<float>(c.gate_soft_cap);
      if (!step) soft_cap_columns(buf.proj, T, W, 2 * qk + 2 * v, 2 * NH, gate_cap, stream);
      const float* p = buf.proj;
      const CellBatch cells{B,
                            S,
                            NH,
                            c.qk_head_dim(),
                            c.v_head_dim(),
                            {p, W},
                            {p + qk, W},
                            {p + 2 * qk, W},
                            {p + 2 * qk + 2 * v, W},
                            {p + 2 * qk + 2 * v + NH, W},
                            buf.h,
                            v,
                            step ? gate_cap : 0.0f};  // the step form caps the gates itself
      const float* o_gate = p + 2 * qk + v;
      if (step) {  // the output norm and gate in the step's launch
        const HeadNormGate norm{
            vec(w, WF::MhNormW), vec(w, WF::MhNormB), eps, o_gate, W, buf.hn, wt};
        mlstm_step(cells, large_cell_state(st, static_cast<size_t>(i)), cell_eps, buf.sync, stream,
                   &norm);
      } else {
        mlstm_chunkwise(cells, large_cell_state(st, static_cast<size_t>(i)), cell_eps, chunk,
                        buf.cell, stream, tensor_cores());
        multihead_norm_gate(buf.h, T, NH, c.v_head_dim(), vec(w, WF::MhNormW), vec(w, WF::MhNormB),
                            eps, o_gate, W, buf.hn, wt, stream);
      }
      residual(buf.hn, v, field(w, WF::WOut), E, vec(w, WF::BOut));
      // act = SwiGLU(norm(x) · W_upᵀ): one fused GEMV in decode, else norm, GEMM and SwiGLU.
      if (!(fuse_norms && gemv_bf16_rms_swiglu(buf.xb, T, E, eps, field(w, WF::WUp), F,
                                               vec(w, WF::BUp), buf.act, stream))) {
        rms_norm(buf.x, T, E, E, blocks_folded ? nullptr : vec(w, WF::NormFfnW),
                 vec(w, WF::NormFfnB), eps, buf.u, wt, stream);
        // bf16 prefill: the up projection leaves bf16 (half the bytes for it and SwiGLU to move).
        const bool up_bf16 =
            wt == WeightType::BF16 && T > kGemvMaxRows && vec(w, WF::BUp) == nullptr &&
            gemm->linear_bf16_out(buf.u, T, E, field(w, WF::WUp), 2 * F, buf.up, stream);
        if (up_bf16) {
          swiglu_bf16_in(buf.up, T, F, buf.act, wt, stream);
        } else {
          gemm->linear(buf.u, T, E, field(w, WF::WUp), 2 * F, wt, vec(w, WF::BUp), buf.up, false,
                       stream);
          swiglu(buf.up, T, F, buf.act, wt, stream);
        }
      }
      residual(buf.act, F, field(w, WF::WDown), E, vec(w, WF::BDown));
    }
  }

  // The final norm, the LM head and the logit cap.
  void enqueue_head(int64_t B, int64_t S, bool all_logits, bool fuse_norms, const void* head) {
    const int64_t T = B * S, E = c.embedding_dim, V = c.vocab_size;
    const auto eps = static_cast<float>(c.norm_eps);
    using WF = WeightField;
    // Rows whose logits are wanted: all, or each sequence's last (row stride S·E).
    const int64_t R = all_logits ? T : B;
    const float* rows = all_logits ? buf.x : buf.x + (S - 1) * E;
    const int64_t stride = all_logits ? E : S * E;
    const auto logit_cap = static_cast<float>(c.output_logit_soft_cap);
    if (fuse_norms && out_folded && stride == E &&
        gemv_bf16_rms(buf.xb, R, E, eps, head, V, nullptr, buf.logits, false, logit_cap, stream))
      return;
    if (c.add_out_norm) {
      rms_norm(rows, R, E, stride, out_folded ? nullptr : vec(top, WF::OutNormW),
               vec(top, WF::OutNormB), eps, buf.u, wt, stream);
    } else {
      copy_rows(rows, R, E, stride, buf.u, wt, stream);
    }
    gemm->linear(buf.u, R, E, head, V, wt, nullptr, buf.logits, false, stream);
    soft_cap_columns(buf.logits, R, V, 0, V, logit_cap, stream);
  }

  void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state, const RunOptions& o,
                   bool all_logits) override {
    if (o.formulation == Formulation::Parallel) {
      throw InvalidInput(tagged("cuda",
                                "the parallel (quadratic) formulation is the CPU's test "
                                "reference; use chunkwise or step"));
    }
    const int64_t T = B * S, R = all_logits ? T : B;
    const bool step = o.formulation == Formulation::Step || S == 1;
    const int64_t chunk = std::min(o.chunk_size > 0 ? o.chunk_size : c.chunk_size, kMaxChunk);
    CudaStateMirror& st = mirror_of(state);
    prepare(B, S, R, chunk, !step);
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));  // the pinned buffer is free again
    auto* h_ids = static_cast<int32_t*>(pinned_ids.get(static_cast<size_t>(T) * 4));
    std::copy_n(ids, T, h_ids);
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(buf.ids, h_ids, T * 4, cudaMemcpyHostToDevice, stream));
    if (use_graphs && S == 1) {
      run_graph(B, st);
    } else {
      enqueue_forward(B, S, step, chunk, all_logits, st);
    }
    StateAccess::mark_mirror_newer(state);
    kept_rows = R;
    kept_B = B;
  }

  void run_graph(int64_t B, const CudaStateMirror& st) {
    const DecodeGraphKey key{B, st.data(), st.bytes(), arena_generation};
    auto it = graphs.find(key);
    if (it == graphs.end()) {
      if (graph_seen[key]++ == 0) {  // first time: run eagerly (creates GEMM plans)
        enqueue_forward(B, 1, true, 1, false, st);
        return;
      }
      if (graphs.size() >= kMaxDecodeGraphs) clear_graphs();
      cudaGraph_t g = nullptr;
      XLSTM_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
      try {
        enqueue_forward(B, 1, true, 1, false, st);
      } catch (...) {
        cudaStreamEndCapture(stream, &g);
        if (g != nullptr) cudaGraphDestroy(g);
        throw;
      }
      XLSTM_CUDA_CHECK(cudaStreamEndCapture(stream, &g));
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      XLSTM_CUDA_CHECK(e);
      it = graphs.emplace(key, exec).first;
    }
    XLSTM_CUDA_CHECK(cudaGraphLaunch(it->second, stream));
    ++graph_replays;
  }

  int64_t graph_replays_so_far() const override { return graph_replays; }

  void read_logits(float* dst) override {
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(dst, buf.logits, kept_rows * c.vocab_size * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream));
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
  }

  std::vector<int32_t> sample(const SamplingParams& p, std::span<const double> u,
                              std::span<const std::vector<int32_t>> history) override {
    sample_start(p, u, history);
    return sample_finish();
  }

  bool samples_async() const override { return true; }

  // Queues the draws' upload, the sampling kernel and the tokens' download (into pinned memory,
  // so that the copy is asynchronous too); sample_finish waits for them.
  void sample_start(const SamplingParams& p, std::span<const double> u,
                    std::span<const std::vector<int32_t>> history) override {
    const int64_t B = kept_B, V = c.vocab_size;
    // Host side: the draws, and each row's distinct in-vocabulary ids for the penalty.
    std::vector<int32_t> pen, off(1, 0);
    const bool penalize = p.repeat_penalty != 1.0f && !history.empty();
    if (penalize) {
      std::vector<char> seen(static_cast<size_t>(V));
      for (int64_t b = 0; b < B; ++b) {
        std::fill(seen.begin(), seen.end(), 0);
        for (int32_t id : history[static_cast<size_t>(b)]) {
          if (id < 0 || id >= V || seen[static_cast<size_t>(id)]) continue;
          seen[static_cast<size_t>(id)] = 1;
          pen.push_back(id);
        }
        off.push_back(static_cast<int32_t>(pen.size()));
      }
    }
    const size_t bytes = B * 8 + pen.size() * 4 + off.size() * 4 + B * 4;
    // The previous sampling's uploads have left the buffer: its finish waited for them.
    if (sampled_rows >= 0) XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
    auto* h = static_cast<char*>(pinned_misc.get(bytes));
    std::copy_n(u.data(), B, reinterpret_cast<double*>(h));
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(buf.draws, h, B * 8, cudaMemcpyHostToDevice, stream));
    if (penalize) {
      char* hp = h + B * 8;
      std::copy(pen.begin(), pen.end(), reinterpret_cast<int32_t*>(hp));
      std::copy(off.begin(), off.end(), reinterpret_cast<int32_t*>(hp + pen.size() * 4));
      XLSTM_CUDA_CHECK(
          cudaMemcpyAsync(buf.pen_ids, hp, pen.size() * 4, cudaMemcpyHostToDevice, stream));
      XLSTM_CUDA_CHECK(cudaMemcpyAsync(buf.pen_off, hp + pen.size() * 4, off.size() * 4,
                                       cudaMemcpyHostToDevice, stream));
    }
    sample_rows(buf.logits, B, V, p, buf.draws, penalize ? buf.pen_ids : nullptr,
                penalize ? buf.pen_off : nullptr, buf.sample, buf.tokens, stream);
    auto* h_tokens = static_cast<int32_t*>(pinned_tokens.get(static_cast<size_t>(B) * 4));
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(h_tokens, buf.tokens, B * 4, cudaMemcpyDeviceToHost, stream));
    sampled_rows = B;
  }

  std::vector<int32_t> sample_finish() override {
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream));
    const auto* h_tokens = static_cast<const int32_t*>(pinned_tokens.get(0));
    std::vector<int32_t> tokens(h_tokens, h_tokens + std::max<int64_t>(sampled_rows, 0));
    sampled_rows = -1;
    return tokens;
  }
};

// Copies (or converts) a checkpoint tensor from the memory map into a device field: bytes in the
// target type go straight up; others through a bounded device staging buffer and a convert kernel.
class Uploader {
 public:
  explicit Uploader(Stream s) : s_(s) {}
  void put(const TensorInfo& t, void* dst, WeightType dst_type, int64_t offset) {
    const size_t n = static_cast<size_t>(numel(t.shape));
    const size_t dst_size = dst_type == WeightType::BF16 ? 2 : 4;
    char* out = static_cast<char*>(dst) + offset * dst_size;
    const bool same = (t.dtype == DType::F32 && dst_type == WeightType::F32) ||
                      (t.dtype == DType::BF16 && dst_type == WeightType::BF16);
    if (same) {
      copy_to_device(out, t.data, t.nbytes);
      return;
    }
    const size_t esize = dtype_size(t.dtype), per = kStageBytes / esize;
    if (stage_.bytes() == 0) stage_ = DeviceBuffer(kStageBytes);
    for (size_t i = 0; i < n; i += per) {
      const size_t m = std::min(per, n - i);
      XLSTM_CUDA_CHECK(cudaStreamSynchronize(s_));  // the staging buffer is free
      copy_to_device(stage_.get(), t.data + i * esize, m * esize);
      convert(stage_.get(), t.dtype, out + i * dst_size, dst_type, m, s_);
    }
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(s_));
  }

 private:
  static constexpr size_t kStageBytes = size_t{64} << 20;
  Stream s_;
  DeviceBuffer stage_;
};

}  // namespace

std::unique_ptr<ModelBackend> load_backend(const ModelConfig& c, WeightLoader& L, WeightType wt,
                                           const LoadOptions& options) {
  if (c.family != Family::Large)  // cuda_block.h
    return load_family_backend(c, L, wt, options.cuda_graphs);
  auto m = std::make_unique<CudaModel>(c, wt, options.cuda_graphs);
  m->allocate_fields();
  const WeightPlan plan = plan_weights(c, L);
  Uploader up(m->stream);
  for (const WeightSlot& s : plan.slots) {
    const TensorInfo& t = L.take_info(s.name, s.shape);
    FieldBuffers& set = s.block < 0 ? m->top : m->blocks[static_cast<size_t>(s.block)];
    up.put(t, set[static_cast<int>(s.field)].get(), m->field_type(s.field), s.offset);
  }
  for (const auto& name : plan.skipped) L.skip(name);
  L.check_all_used();
  m->finish_load();
  return m;
}

std::unique_ptr<ModelBackend> random_backend(const ModelConfig& c, uint64_t seed, WeightType wt) {
  if (c.family != Family::Large) return random_family_backend(c, seed, wt);
  auto m = std::make_unique<CudaModel>(c, wt, true);
  m->allocate_fields();
  using WF = WeightField;
  const int64_t E = c.embedding_dim, NH = c.num_heads, qk = c.qk_dim(), v = c.v_dim(),
                F = c.ffn_dim();
  const float s_in = 1.0f / std::sqrt(static_cast<float>(E));
  auto normal = [&](FieldBuffers& set, WF f, float std, uint64_t stream_id) {
    DeviceBuffer& d = set[static_cast<int>(f)];
    if (d.bytes() == 0) return;
    fill_normal(d.get(), m->field_type(f), d.bytes() / type_size(m->field_type(f)), 0.0f, std, seed,
                stream_id, m->stream);
  };
  auto ones = [&](FieldBuffers& set, WF f) {
    DeviceBuffer& d = set[static_cast<int>(f)];
    if (d.bytes() > 0) fill_value(d.as<float>(), d.bytes() / 4, 1.0f, m->stream);
  };
  normal(m->top, WF::Embedding, 1.0f, 0);
  normal(m->top, WF::LmHead, s_in, 1);
  ones(m->top, WF::OutNormW);
  std::vector<float> b_in(static_cast<size_t>(2 * qk + 2 * v + 2 * NH), 0.0f);
  for (int64_t h = 0; h < NH; ++h) b_in[static_cast<size_t>(2 * qk + 2 * v + NH + h)] = 3.0f;
  for (int64_t i = 0; i < c.num_blocks; ++i) {
    FieldBuffers& b = m->blocks[static_cast<size_t>(i)];
    const uint64_t id = 16 + static_cast<uint64_t>(i) * kNumWeightFields;
    normal(b, WF::WIn, s_in, id + static_cast<int>(WF::WIn));
    normal(b, WF::WOut, 1.0f / std::sqrt(static_cast<float>(v)), id + static_cast<int>(WF::WOut));
    normal(b, WF::WUp, s_in, id + static_cast<int>(WF::WUp));
    normal(b, WF::WDown, 1.0f / std::sqrt(static_cast<float>(F)), id + static_cast<int>(WF::WDown));
    ones(b, WF::NormMlstmW);
    ones(b, WF::MhNormW);
    ones(b, WF::NormFfnW);
    copy_to_device(b[static_cast<int>(WF::BIn)].get(), b_in.data(), b_in.size() * 4);
  }
  XLSTM_CUDA_CHECK(cudaStreamSynchronize(m->stream));
  m->finish_load();
  return m;
}

}  // namespace xlstm::cuda
