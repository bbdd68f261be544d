// The CUDA backend of the original family's stacks: embedding → each block's CUDA forward (its
// registered CudaBlockFactory) → post LayerNorm → head, float32 residual stream, GEMM operands in
// the weight type. States live in a CudaStateMirror (one allocation, a tensor per block and
// name, as the layout declares). Sampling reads the last logits to the host.
#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "backend/cuda/check.h"
#include "backend/cuda/cuda_block.h"
#include "backend/cuda/cuda_state.h"
#include "backend/cuda/family_ops.h"
#include "backend/cuda/gemv.h"
#include "backend/cuda/ops.h"
#include "core/env_settings.h"
#include "model/backend.h"
#include "model/normal_draws.h"
#include "model/state_access.h"
#include "xlstm/error.h"

namespace xlstm::cuda {

// ---- cuda_block.h helpers ----

DeviceBuffer upload_floats(const std::vector<float>& v) {
  DeviceBuffer d(v.size() * sizeof(float));
  if (!v.empty()) copy_to_device(d.get(), v.data(), d.bytes());
  return d;
}

DeviceBuffer upload_matrix(const std::vector<float>& v, WeightType wt) {
  if (wt == WeightType::F32) return upload_floats(v);
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = f32_to_bf16(v[i]);
  DeviceBuffer d(h.size() * sizeof(uint16_t));
  if (!h.empty()) copy_to_device(d.get(), h.data(), d.bytes());
  return d;
}

void* Workspace::get(const std::string& slot, int64_t bytes) {
  DeviceBuffer& b = slots_[slot];
  if (static_cast<int64_t>(b.bytes()) < bytes) {
    synchronize();  // the old buffer may still be in use by queued work
    b = DeviceBuffer(static_cast<size_t>(bytes));
    XLSTM_CUDA_CHECK(cudaMemset(b.get(), 0, b.bytes()));  // counters start at zero
    ++generation_;
  }
  return b.get();
}

float* DeviceBlockState::operator[](const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(tagged("cuda", "block state has no tensor '" + name + "'"));
  return it->second;
}

const CudaBlockFactory* cuda_block_factory(const std::string& type) {
#define XLSTM_CUDA_BLOCK(t) \
  if (type == #t) return &t##_cuda_forward();
#include "blocks/registered_cuda.def"
#undef XLSTM_CUDA_BLOCK
  return nullptr;
}

namespace {

// ---- the state ----

// One block's tensors of the state's device copy, by name.
DeviceBlockState device_block_state(const CudaStateMirror& m, const StateLayout& layout, size_t i) {
  DeviceBlockState s;
  for (size_t j = 0; j < layout[i].tensors.size(); ++j)
    s.tensors[layout[i].tensors[j].name] = m.tensor(i, j);
  return s;
}

// ---- the model ----

class FamilyModel final : public ModelBackend {
 public:
  FamilyModel(const ModelConfig& c, WeightType wt, bool graphs)
      : c_(c), wt_(wt), use_graphs_(graphs), layout_(state_layout(c)) {
    read_gemv_settings(), pdl_enabled();  // a bad setting fails here, not at the first step
    require_device();
    XLSTM_CUDA_CHECK(cudaStreamCreate(&stream_));
    gemm_ = std::make_unique<Gemm>();
  }
  ~FamilyModel() override {
    clear_graphs();
    if (pinned_ids_ != nullptr) cudaFreeHost(pinned_ids_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  static const CudaBlockFactory& factory_of(const ModelConfig& c, int i) {
    const BlockSite site = block_site(c, i);
    const CudaBlockFactory* f = cuda_block_factory(site.spec.type);
    if (f == nullptr) {
      throw InvalidInput(tagged("cuda", "block " + std::to_string(i) + " ('" + site.spec.type +
                                            "') has no CUDA forward; use --device cpu"));
    }
    return *f;
  }

  void load(WeightLoader& L) {
    const int64_t E = c_.embedding_dim, V = c_.vocab_size;
    embedding_ = upload_matrix(L.take("token_embedding.weight", {V, E}), wt_);
    for (int i = 0; i < static_cast<int>(c_.num_blocks); ++i)
      blocks_.push_back(factory_of(c_, i).load(block_site(c_, i), L, wt_));
    if (c_.add_out_norm) {
      auto w = L.take("xlstm_block_stack.post_blocks_norm.weight", {E});
      for (auto& v : w) v += 1.0f;
      out_norm_ = upload_floats(w);
    }
    if (c_.tie_word_embeddings) {
      if (L.has("lm_head.weight")) L.skip("lm_head.weight");
    } else {
      head_ = upload_matrix(L.take("lm_head.weight", {V, E}), wt_);
    }
    L.check_all_used();
  }

  void random(uint64_t seed) {
    const int64_t E = c_.embedding_dim, V = c_.vocab_size;
    NormalDraws randn(seed);
    embedding_ = upload_matrix(randn(V * E, 1.0f), wt_);
    for (int i = 0; i < static_cast<int>(c_.num_blocks); ++i)
      blocks_.push_back(factory_of(c_, i).random(block_site(c_, i), seed + 1000003 * (i + 1), wt_));
    if (c_.add_out_norm)
      out_norm_ = upload_floats(std::vector<float>(static_cast<size_t>(E), 1.0f));
    if (!c_.tie_word_embeddings)
      head_ = upload_matrix(randn(V * E, 1.0f / std::sqrt(static_cast<float>(E))), wt_);
  }

  size_t weight_bytes() const override {
    size_t n = embedding_.bytes() + head_.bytes();
    for (const auto& b : blocks_) n += b->weight_bytes();
    return n;
  }

  // 16384 tokens over the batch on devices of 48 GiB or more, else 4096; whole 64-token chunks.
  // Each segment moves every mLSTM head's float32 C through the chunkwise states pass once more,
  // so longer segments prefill faster (1.3B 7:1 at B=8 on an H200: 379.7 ms at 512-token
  // segments, 365.6 at 1024, 354.9 at 2048) for more scratch (there: 9.9, 11.5 and 14.7 GB peak;
  // B=16 at 1024: 22.8 GB, too much for a 24 GB card).
  int64_t default_segment_len(int64_t B) const override {
    return std::max<int64_t>(64, segment_tokens_ / std::max<int64_t>(B, 1) / 64 * 64);
  }

  void place_state(State& state) override { mirror_of(state); }

  CudaStateMirror& mirror_of(State& state) {
    auto* m = dynamic_cast<CudaStateMirror*>(StateAccess::mirror(state));
    if (m == nullptr || !m->matches(layout_, state.batch())) {
      auto fresh = std::make_unique<CudaStateMirror>(layout_, state.batch());
      m = fresh.get();
      StateAccess::set_mirror(state, std::move(fresh));
    }
    if (StateAccess::mirror_stale(state)) {
      if (StateAccess::host_is_zero(state)) {
        m->zero(stream_);
      } else {
        m->upload(StateAccess::host_blocks(state));
      }
      StateAccess::mark_uploaded(state);
    }
    return *m;
  }

  void run_segment(const int32_t* ids, int64_t B, int64_t S, State& state, const RunOptions& o,
                   bool all_logits) override {
    const int64_t T = B * S;
    CudaStateMirror& st = mirror_of(state);
    // Ids through a pinned buffer: a fixed source address that decode graphs can rely on.
    if (pinned_ids_count_ < T) {
      if (pinned_ids_ != nullptr) XLSTM_CUDA_CHECK(cudaFreeHost(pinned_ids_));
      XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream_));
      XLSTM_CUDA_CHECK(cudaMallocHost(&pinned_ids_, static_cast<size_t>(T) * 4));
      pinned_ids_count_ = T;
    }
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream_));  // the previous copy has left the buffer
    std::copy_n(ids, T, static_cast<int32_t*>(pinned_ids_));
    auto* d_ids = static_cast<int32_t*>(ws_.get("ids", T * 4));
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(d_ids, pinned_ids_, T * 4, cudaMemcpyHostToDevice, stream_));
    kept_rows_ = all_logits ? T : B;
    if (S == 1 && use_graphs_) {
      run_graph(B, st, o);
    } else {
      enqueue(B, S, st, o, all_logits);
    }
    StateAccess::mark_mirror_newer(state);
  }

  // Embedding → blocks → post norm → logits of the wanted rows, on the stream.
  void enqueue(int64_t B, int64_t S, const CudaStateMirror& st, const RunOptions& o,
               bool all_logits) {
    const int64_t E = c_.embedding_dim, V = c_.vocab_size, T = B * S;
    auto* d_ids = static_cast<int32_t*>(ws_.get("ids", T * 4));
    float* x = ws_.f32("x", T * E);
    embedding_gather(d_ids, T, embedding_.get(), wt_, E, x, stream_);
    CudaContext ctx{*gemm_, ws_, stream_, wt_, jitter_ns_};
    for (size_t i = 0; i < blocks_.size();) {
      // Decode of one sequence: runs of one block type in one launch where the type can.
      size_t j = i + 1;
      if (fused_decode_ && B == 1 && S == 1) {
        while (j < blocks_.size() && layout_[j].block_type == layout_[i].block_type) ++j;
        std::vector<CudaBlock*> run;
        std::vector<DeviceBlockState> states;
        for (size_t k = i; k < j; ++k) {
          run.push_back(blocks_[k].get());
          states.push_back(device_block_state(st, layout_, k));
        }
        if (blocks_[i]->decode_run(run, x, states, ctx)) {
          i = j;
          continue;
        }
      }
      for (; i < j; ++i) blocks_[i]->forward(x, B, S, device_block_state(st, layout_, i), o, ctx);
    }
    const int64_t R = all_logits ? T : B;
    // The rows whose logits are wanted: all, or each sequence's last.
    const float* rows = all_logits ? x : x + (S - 1) * E;
    const int64_t stride = all_logits ? E : S * E;
    void* normed = ws_.typed("head_in", R * E, wt_);
    if (c_.add_out_norm) {
      group_layer_norm(rows, R, 1, E, stride, out_norm_.as<float>(), 1e-5f, normed, wt_, false,
                       stream_);
    } else {
      copy_rows(rows, R, E, stride, normed, wt_, stream_);
    }
    logits_ = ws_.f32("logits", R * V);
    gemm_->linear(normed, R, E, (head_.bytes() ? head_ : embedding_).get(), V, wt_, nullptr,
                  logits_, false, stream_);
  }

  // One decode step from a CUDA graph per (batch, state memory, workspace generation): the first
  // step of a key runs eagerly (sizing the workspace), the second is captured, later ones replay.
  // Keyed by the state's device memory, which the graph's kernels address (a new state's mirror
  // object may reuse a freed one's host address with other device memory).
  void run_graph(int64_t B, const CudaStateMirror& st, const RunOptions& o) {
    const DecodeGraphKey key{B, st.data(), st.bytes(), ws_.generation()};
    auto it = graphs_.find(key);
    if (it == graphs_.end()) {
      if (graph_seen_[key]++ == 0) {
        enqueue(B, 1, st, o, true);
        return;
      }
      if (graphs_.size() >= kMaxDecodeGraphs) clear_graphs();
      cudaGraph_t g = nullptr;
      XLSTM_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
      try {
        enqueue(B, 1, st, o, true);
      } catch (...) {
        cudaStreamEndCapture(stream_, &g);
        if (g != nullptr) cudaGraphDestroy(g);
        throw;
      }
      XLSTM_CUDA_CHECK(cudaStreamEndCapture(stream_, &g));
      if (ws_.generation() != key.workspace_generation) {  // a slot moved while capturing
        cudaGraphDestroy(g);
        enqueue(B, 1, st, o, true);
        return;
      }
      cudaGraphExec_t exec = nullptr;
      const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
      cudaGraphDestroy(g);
      XLSTM_CUDA_CHECK(e);
      it = graphs_.emplace(key, exec).first;
    }
    XLSTM_CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
    ++graph_replays_;
  }

  int64_t graph_replays_so_far() const override { return graph_replays_; }

  void clear_graphs() {
    for (auto& [k, g] : graphs_) cudaGraphExecDestroy(g);
    graphs_.clear();
    graph_seen_.clear();
  }

  void read_logits(float* dst) override {
    XLSTM_CUDA_CHECK(cudaMemcpyAsync(dst, logits_, kept_rows_ * c_.vocab_size * sizeof(float),
                                     cudaMemcpyDeviceToHost, stream_));
    XLSTM_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  std::vector<int32_t> sample(const SamplingParams& p, std::span<const double> u,
                              std::span<const std::vector<int32_t>> history) override {
    const int64_t V = c_.vocab_size;
    host_logits_.resize(static_cast<size_t>(kept_rows_ * V));
    read_logits(host_logits_.data());
    std::vector<int32_t> tokens(static_cast<size_t>(kept_rows_));
    SamplerScratch scratch;
    for (int64_t b = 0; b < kept_rows_; ++b) {
      std::span<const int32_t> h;
      if (!history.empty()) h = history[static_cast<size_t>(b)];
      tokens[b] =
          sample_token({host_logits_.data() + b * V, static_cast<size_t>(V)}, h, p, u[b], scratch);
    }
    return tokens;
  }

 private:
  ModelConfig c_;
  WeightType wt_;
  bool use_graphs_;
  StateLayout layout_;
  std::map<DecodeGraphKey, cudaGraphExec_t> graphs_;
  std::map<DecodeGraphKey, int> graph_seen_;
  int64_t graph_replays_ = 0;
  void* pinned_ids_ = nullptr;
  int64_t pinned_ids_count_ = 0;
  Stream stream_ = nullptr;
  std::unique_ptr<Gemm> gemm_;
  Workspace ws_;
  DeviceBuffer embedding_, out_norm_, head_;
  std::vector<std::unique_ptr<CudaBlock>> blocks_;
  // Decode of one sequence through runs of blocks in one launch each where a block type can
  // (CudaBlock::decode_run; mLSTM v1: decode_persistent_v1.cu); XLSTM_FAMILY_PERSISTENT=off: block
  // by block.
  bool fused_decode_ = env_switch("XLSTM_FAMILY_PERSISTENT", true);
  // XLSTM_PD_JITTER_NS=N: random pauses in those kernels (stress tests; see CudaContext).
  uint32_t jitter_ns_ = env_count("XLSTM_PD_JITTER_NS", 0, 0, kMaxJitterNs);
  // Prefill tokens per segment over the batch (default_segment_len), by the device's memory.
  int64_t segment_tokens_ = device_total_bytes() >= (size_t{48} << 30) ? 16384 : 4096;
  float* logits_ = nullptr;
  int64_t kept_rows_ = 0;
  std::vector<float> host_logits_;
};

}  // namespace

std::unique_ptr<ModelBackend> load_family_backend(const ModelConfig& c, WeightLoader& L,
                                                  WeightType wt, bool graphs) {
  auto m = std::make_unique<FamilyModel>(c, wt, graphs);
  m->load(L);
  return m;
}

std::unique_ptr<ModelBackend> random_family_backend(const ModelConfig& c, uint64_t seed,
                                                    WeightType wt) {
  auto m = std::make_unique<FamilyModel>(c, wt, true);
  m->random(seed);
  return m;
}

}  // namespace xlstm::cuda
