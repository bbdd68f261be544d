// The device-neutral front of Model: argument checks, prefill segmenting, the sampling entry;
// the device's backend (model/backend.h) does the arithmetic.
#include "xlstm/model.h"

#include <algorithm>

#include "backend/cuda/api.h"
#include "model/backend.h"
#include "model/block_registry.h"
#include "model/weight_loader.h"
#include "xlstm/error.h"

namespace xlstm {

Device parse_device(const std::string& name) {
  if (name == "cpu") return Device::Cpu;
  if (name == "cuda") return Device::Cuda;
  throw InvalidInput(tagged("model", "device '" + name + "' is not one of cpu, cuda"));
}

const char* device_name(Device d) {
  return d == Device::Cuda ? "cuda" : "cpu";
}

std::string describe_device(Device d) {
  return d == Device::Cuda ? cuda::device_description() : "cpu";
}

DeviceMemory device_memory(Device d) {
  if (d != Device::Cuda) return {};
  return {cuda::device_bytes_in_use(), cuda::device_bytes_peak()};
}

uint64_t persistent_decode_launches(Device d) {
  if (d != Device::Cuda) return 0;
  return cuda::persistent_decode_launches() + cuda::v1_decode_launches();
}

void reset_device_memory_peak(Device d) {
  if (d == Device::Cuda) cuda::reset_device_bytes_peak();
}

namespace {
// The sequences a call runs: the state's first options.rows, or all of them.
int64_t run_rows(const State& state, const RunOptions& o) {
  return o.rows > 0 ? o.rows : state.batch();
}
}  // namespace

struct Model::Impl {
  ModelConfig config;
  StateLayout layout;  // what a state for this model holds
  Device device = Device::Cpu;
  std::unique_ptr<ModelBackend> backend;
  std::vector<int32_t> seg_ids;
  std::vector<float> seg_logits;
  bool sample_started = false;  // start_forward_sample without its finish yet

  // Checks ids against the state and config; returns S.
  int64_t check(std::span<const int32_t> ids, const State& state, const RunOptions& o) const;
  // Runs all segments; the backend keeps the last segment's logits. out (if set) receives all
  // logits [B, S, V] (all_logits) or the last positions' [B, V].
  void run(std::span<const int32_t> ids, int64_t S, State& state, const RunOptions& o,
           bool all_logits, float* out);
};

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

const ModelConfig& Model::config() const {
  return impl_->config;
}

Device Model::device() const {
  return impl_->device;
}

size_t Model::weight_bytes() const {
  return impl_->backend->weight_bytes();
}

namespace {

// The sizes a config gives against the checkpoint, before anything is allocated for them: a
// num_blocks or vocab_size typo of 1e9 would otherwise allocate until the process is killed.
void check_sizes_against_checkpoint(const ModelConfig& c, const WeightLoader& L) {
  for (const char* name :
       {"embedding.weight", "backbone.embeddings.weight", "token_embedding.weight"}) {
    const TensorInfo* t = L.find(name);
    if (t == nullptr) continue;
    if (t->shape != Shape{c.vocab_size, c.embedding_dim}) {
      throw InvalidInput(
          tagged("weights", t->file + ": '" + name + "' is " + shape_str(t->shape) +
                                ", but the config's vocab_size and embedding_dim give " +
                                shape_str({c.vocab_size, c.embedding_dim})));
    }
  }
  const std::string prefix = block_prefix(c, 0).substr(0, block_prefix(c, 0).size() - 2);
  int64_t blocks = 0;
  for (const auto& n : L.names()) {
    if (n.rfind(prefix, 0) != 0) continue;
    const auto end = n.find('.', prefix.size());
    const std::string index = n.substr(prefix.size(), end - prefix.size());
    if (index.empty() || index.size() > 9 ||
        index.find_first_not_of("0123456789") != std::string::npos)
      continue;
    blocks = std::max<int64_t>(blocks, std::stoll(index) + 1);
  }
  if (blocks != c.num_blocks) {
    throw InvalidInput(tagged("weights", L.description() + ": holds " + std::to_string(blocks) +
                                             " blocks ('" + prefix +
                                             "N.*'), the config's "
                                             "num_blocks is " +
                                             std::to_string(c.num_blocks)));
  }
}

}  // namespace

Model Model::load(const std::filesystem::path& dir, const LoadOptions& options) {
  auto loaded = load_config(dir / "config.json");
  if (options.warnings != nullptr) *options.warnings = loaded.warnings;
  WeightLoader L(TensorStore::open_dir(dir), options.check_weights);
  check_sizes_against_checkpoint(loaded.config, L);
  auto impl = std::make_unique<Impl>();
  impl->config = loaded.config;
  impl->layout = state_layout(impl->config);
  impl->device = options.device;
  WeightType wt =
      options.weight_type == LoadOptions::WeightDType::BF16 ? WeightType::BF16 : WeightType::F32;
  if (options.weight_type == LoadOptions::WeightDType::Auto) {
    if (options.device == Device::Cuda) {
      wt = WeightType::BF16;
    } else {
      const TensorInfo* emb = nullptr;
      for (const char* name :
           {"embedding.weight", "backbone.embeddings.weight", "token_embedding.weight"}) {
        if (emb == nullptr) emb = L.find(name);
      }
      wt = emb != nullptr && emb->dtype == DType::BF16 ? WeightType::BF16 : WeightType::F32;
    }
  }
  impl->backend = options.device == Device::Cuda ? cuda::load_backend(impl->config, L, wt, options)
                                                 : load_cpu_backend(impl->config, L, wt);
  return Model(std::move(impl));
}

Model Model::random(const ModelConfig& c, uint64_t seed, bool bf16_weights, Device device) {
  const WeightType wt = bf16_weights ? WeightType::BF16 : WeightType::F32;
  auto impl = std::make_unique<Impl>();
  impl->config = c;
  impl->layout = state_layout(c);
  impl->device = device;
  impl->backend =
      device == Device::Cuda ? cuda::random_backend(c, seed, wt) : random_cpu_backend(c, seed, wt);
  return Model(std::move(impl));
}

int64_t Model::Impl::check(std::span<const int32_t> ids, const State& state,
                           const RunOptions& o) const {
  const ModelConfig& c = config;
  const int64_t V = c.vocab_size;
  if (state.batch() <= 0)
    throw InvalidInput(
        tagged("model", "state has batch size 0; create it with Model::new_state(B)"));
  if (o.rows < 0 || o.rows > state.batch()) {
    throw InvalidInput(tagged("model", "rows " + std::to_string(o.rows) + " outside [0, " +
                                           std::to_string(state.batch()) +
                                           "] (the state's batch; 0: all of it)"));
  }
  const int64_t B = run_rows(state, o);
  if (state.layout() != layout) {
    const auto& sl = state.layout();
    std::string what = std::to_string(sl.size()) + " blocks in the state, " +
                       std::to_string(layout.size()) + " in the model";
    for (size_t i = 0; i < std::min(sl.size(), layout.size()); ++i) {
      if (sl[i] != layout[i]) {
        what = "block " + std::to_string(i) + " is '" + sl[i].block_type +
               "' with other tensors or shapes in the state, '" + layout[i].block_type +
               "' in the model";
        break;
      }
    }
    throw InvalidInput(tagged("model", "state does not match this model's layout: " + what));
  }
  if (ids.size() % static_cast<size_t>(B) != 0) {
    throw InvalidInput(tagged(
        "model",
        std::to_string(ids.size()) + " token ids do not divide into batch " + std::to_string(B)));
  }
  const int64_t S = static_cast<int64_t>(ids.size()) / B;
  if (S == 0)
    throw InvalidInput(tagged("model", "empty input: at least one token per sequence is needed"));
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= V) {
      throw InvalidInput(tagged("model", "token id " + std::to_string(ids[i]) + " at position " +
                                             std::to_string(i) + " outside the vocabulary [0, " +
                                             std::to_string(V) + ")"));
    }
  }
  if (o.segment_len < 0)
    throw InvalidInput(tagged("model", "segment_len must be positive (or 0: the device's choice)"));
  return S;
}

void Model::Impl::run(std::span<const int32_t> ids, int64_t S, State& state, const RunOptions& o,
                      bool all_logits, float* out) {
  const int64_t B = run_rows(state, o), V = config.vocab_size;
  const int64_t seg_len = o.segment_len > 0 ? o.segment_len : backend->default_segment_len(B);
  for (int64_t s0 = 0; s0 < S; s0 += seg_len) {
    const int64_t Ss = std::min(seg_len, S - s0);
    const bool last = s0 + Ss == S;
    const int32_t* seg = ids.data();
    if (Ss != S) {
      seg_ids.resize(static_cast<size_t>(B * Ss));
      for (int64_t b = 0; b < B; ++b)
        std::copy_n(ids.data() + b * S + s0, Ss, seg_ids.data() + b * Ss);
      seg = seg_ids.data();
    }
    backend->run_segment(seg, B, Ss, state, o, all_logits);
    if (o.on_progress) o.on_progress(s0 + Ss, S);
    if (out == nullptr) continue;
    if (!all_logits) {
      if (last) backend->read_logits(out);
    } else if (Ss == S) {
      backend->read_logits(out);
    } else {
      seg_logits.resize(static_cast<size_t>(B * Ss * V));
      backend->read_logits(seg_logits.data());
      for (int64_t b = 0; b < B; ++b) {
        std::copy_n(seg_logits.data() + b * Ss * V, Ss * V, out + (b * S + s0) * V);
      }
    }
  }
}

State Model::new_state(int64_t batch) const {
  State s(impl_->config, batch);
  if (batch > 0) impl_->backend->place_state(s);
  return s;
}

std::vector<float> Model::forward(std::span<const int32_t> ids, State& state, const RunOptions& o) {
  const int64_t S = impl_->check(ids, state, o);
  const int64_t B = run_rows(state, o), V = impl_->config.vocab_size;
  std::vector<float> logits(static_cast<size_t>(o.all_logits ? B * S * V : B * V));
  impl_->run(ids, S, state, o, o.all_logits, logits.data());
  return logits;
}

std::vector<int32_t> Model::forward_sample(std::span<const int32_t> ids, State& state,
                                           const SamplingParams& params, std::span<const double> u,
                                           std::span<const std::vector<int32_t>> history,
                                           RunOptions o) {
  start_forward_sample(ids, state, params, u, history, o);
  return finish_forward_sample();
}

void Model::start_forward_sample(std::span<const int32_t> ids, State& state,
                                 const SamplingParams& params, std::span<const double> u,
                                 std::span<const std::vector<int32_t>> history, RunOptions o) {
  if (impl_->sample_started)
    throw InvalidInput(tagged("model", "forward_sample: a started step was not finished"));
  validate(params);
  const int64_t S = impl_->check(ids, state, o);
  const auto B = static_cast<size_t>(run_rows(state, o));
  if (u.size() != B) {
    throw InvalidInput(tagged("model", "forward_sample: " + std::to_string(u.size()) +
                                           " uniform draws for batch " + std::to_string(B)));
  }
  if (!history.empty() && history.size() != B) {
    throw InvalidInput(tagged("model", "forward_sample: " + std::to_string(history.size()) +
                                           " histories for batch " + std::to_string(B)));
  }
  o.all_logits = false;
  impl_->run(ids, S, state, o, false, nullptr);
  impl_->backend->sample_start(params, u, history);
  impl_->sample_started = true;
}

bool Model::samples_async() const {
  return impl_->backend->samples_async();
}

int64_t Model::decode_graph_replays() const {
  return impl_->backend->graph_replays_so_far();
}

std::vector<int32_t> Model::finish_forward_sample() {
  if (!impl_->sample_started)
    throw InvalidInput(tagged("model", "finish_forward_sample: no step was started"));
  impl_->sample_started = false;
  return impl_->backend->sample_finish();
}

}  // namespace xlstm
