// Malformed safetensors and mismatched checkpoints fail with messages naming the file and tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "io/safetensors.h"
#include "test_util.h"
#include "xlstm/error.h"
#include "xlstm/model.h"

namespace xlstm {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() /
            ("xlstm_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A raw safetensors file from a header string and a data section.
std::string raw_file(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header + std::string(data_bytes, '\0');
}

std::string open_error(const fs::path& p) {
  try {
    SafetensorsFile f(p);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos)
      << "message: " << text << "\nexpected to contain: " << part;
}

TEST(SafetensorsErrors, TooShortFile) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors", "abc");
  const auto e = open_error(d.path() / "a.safetensors");
  expect_contains(e, "a.safetensors");
  expect_contains(e, "too short");
}

TEST(SafetensorsErrors, HeaderLengthBeyondFile) {
  TempDir d;
  std::string f = raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 4);
  f[0] = '\xff';
  f[1] = '\xff';
  write_bytes(d.path() / "a.safetensors", f);
  expect_contains(open_error(d.path() / "a.safetensors"), "header length");
}

TEST(SafetensorsErrors, InvalidHeaderJson) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors", raw_file(R"({"a":{"dtype":"F32",)", 4));
  expect_contains(open_error(d.path() / "a.safetensors"), "invalid header JSON");
}

TEST(SafetensorsErrors, DuplicateTensorNameIsRefused) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors",
              raw_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                       R"("a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                       8));
  expect_contains(open_error(d.path() / "a.safetensors"), "tensor 'a' appears twice");
}

TEST(SafetensorsErrors, TruncatedData) {
  TempDir d;
  const float x[4] = {1, 2, 3, 4};
  write_safetensors(d.path() / "a.safetensors", {f32_tensor("w", {4}, x)});
  std::string bytes = read_bytes(d.path() / "a.safetensors");
  write_bytes(d.path() / "a.safetensors", bytes.substr(0, bytes.size() - 6));
  const auto e = open_error(d.path() / "a.safetensors");
  expect_contains(e, "'w'");
  expect_contains(e, "truncated");
}

TEST(SafetensorsErrors, OutOfRangeOffsets) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors",
              raw_file(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16));
  expect_contains(open_error(d.path() / "a.safetensors"), "'w': data_offsets [8, 24] outside");
}

TEST(SafetensorsErrors, OverlappingOffsets) {
  TempDir d;
  write_bytes(
      d.path() / "a.safetensors",
      raw_file(
          R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
          12));
  const auto e = open_error(d.path() / "a.safetensors");
  expect_contains(e, "overlapping");
  expect_contains(e, "'a'");
  expect_contains(e, "'b'");
}

TEST(SafetensorsErrors, SizeDoesNotMatchShape) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors",
              raw_file(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8));
  expect_contains(open_error(d.path() / "a.safetensors"),
                  "'w': 8 bytes for shape [3] of F32 (expected 12)");
}

TEST(SafetensorsErrors, UnsupportedDtypeAndBadFields) {
  TempDir d;
  write_bytes(d.path() / "a.safetensors",
              raw_file(R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", 8));
  expect_contains(open_error(d.path() / "a.safetensors"), "unsupported dtype 'F64'");
  write_bytes(d.path() / "b.safetensors",
              raw_file(R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4));
  expect_contains(open_error(d.path() / "b.safetensors"), "'w': shape entries");
  write_bytes(d.path() / "c.safetensors", raw_file(R"({"w":{"dtype":"F32","shape":[1]}})", 4));
  expect_contains(open_error(d.path() / "c.safetensors"), "'w': missing 'data_offsets'");
}

// A zero dim kept the element count at 0, so a dim of 2^63 after it passed and became the int64
// -2^63 in the shape (found by fuzz/fuzz_safetensors).
TEST(SafetensorsErrors, HugeDimAfterZeroDimIsRefused) {
  TempDir d;
  for (const char* dims : {"[0, 9223372036854775808]", "[0, 281474976710657]",
                           "[281474976710657, 0]", "[0, 16777217, 16777216]"}) {
    write_bytes(d.path() / "a.safetensors",
                raw_file(std::string(R"({"w":{"dtype":"F32","shape":)") + dims +
                             R"(,"data_offsets":[0,0]}})",
                         0));
    expect_contains(open_error(d.path() / "a.safetensors"), "'w': shape");
    expect_contains(open_error(d.path() / "a.safetensors"), "too large");
  }
  write_bytes(
      d.path() / "b.safetensors",
      raw_file(R"({"w":{"dtype":"F32","shape":[0, 281474976710656],"data_offsets":[0,0]}})", 0));
  EXPECT_EQ(SafetensorsFile(d.path() / "b.safetensors").at("w").shape,
            (Shape{0, int64_t{1} << 48}));
}

// A tensor with a zero dim reads as no values, in every float dtype (found by fuzz_safetensors:
// the empty output's null data() went to memcpy, undefined behaviour that UBSan reports).
TEST(SafetensorsErrors, ZeroElementTensorsReadAsEmpty) {
  TempDir d;
  for (const char* dtype : {"F32", "BF16", "F16"}) {
    write_bytes(d.path() / "z.safetensors",
                raw_file(std::string(R"({"w":{"dtype":")") + dtype +
                             R"(","shape":[0,4],"data_offsets":[0,0]}})",
                         0));
    const SafetensorsFile f(d.path() / "z.safetensors");
    EXPECT_TRUE(read_f32(f.at("w"), Shape{0, 4}).empty()) << dtype;
  }
}

// --- checkpoint vs config -------------------------------------------------------------------

const fs::path kModel = testing::fixtures() / "models" / "nxai_odd_heads";

// Copies the fixture model into a temp dir, letting `edit` change the tensor list first.
void copy_model(const fs::path& to, const std::function<void(std::vector<TensorToWrite>&)>& edit) {
  fs::copy_file(kModel / "config.json", to / "config.json");
  const auto store = TensorStore::open_dir(kModel);
  std::vector<TensorToWrite> tensors;
  for (const auto& name : store.names()) {
    const TensorInfo& t = *store.find(name);
    tensors.push_back(
        {name, t.dtype, t.shape, std::vector<unsigned char>(t.data, t.data + t.nbytes)});
  }
  edit(tensors);
  write_safetensors(to / "model.safetensors", tensors);
}

std::string load_error(const fs::path& dir) {
  try {
    Model::load(dir);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

const char* kQ = "backbone.blocks.0.mlstm_layer.q.weight";

TEST(CheckpointErrors, MissingTensorIsNamedWithItsShape) {
  TempDir d;
  copy_model(d.path(), [](auto& ts) { std::erase_if(ts, [](auto& t) { return t.name == kQ; }); });
  const auto e = load_error(d.path());
  expect_contains(e, std::string(kQ) + ": missing (expected [24, 96])");
}

TEST(CheckpointErrors, MisShapedTensorShowsBothShapes) {
  TempDir d;
  copy_model(d.path(), [](auto& ts) {
    for (auto& t : ts) {
      if (t.name == kQ) t.shape = {96, 24};
    }
  });
  expect_contains(load_error(d.path()), std::string(kQ) + ": expected [24, 96], file has [96, 24]");
}

TEST(CheckpointErrors, WrongDtypeIsNamed) {
  TempDir d;
  copy_model(d.path(), [](auto& ts) {
    for (auto& t : ts) {
      if (t.name == kQ) {
        t.dtype = DType::I32;
      }
    }
  });
  expect_contains(load_error(d.path()),
                  std::string(kQ) + ": dtype I32 is not a floating-point weight type");
}

TEST(CheckpointErrors, ExtraTensorIsNamed) {
  TempDir d;
  copy_model(d.path(), [](auto& ts) {
    const float x[2] = {0, 0};
    ts.push_back(f32_tensor("backbone.blocks.0.mlstm_layer.extra.weight", {2}, x));
  });
  expect_contains(
      load_error(d.path()),
      "unexpected tensor(s) for this config: backbone.blocks.0.mlstm_layer.extra.weight");
}

// Sizes from the config are checked against the checkpoint before anything is allocated: typos
// of 1e9 used to allocate until the process was killed.
TEST(CheckpointErrors, ConfigSizesDisagreeingWithTheCheckpointAreNamed) {
  auto with_config = [](const std::string& key, const std::string& value) {
    TempDir d;
    copy_model(d.path(), [](auto&) {});
    std::ifstream in(d.path() / "config.json");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find("\"" + key + "\"");
    const auto colon = text.find(':', at), end = text.find_first_of(",}", colon);
    text = text.substr(0, colon + 1) + " " + value + text.substr(end);
    write_bytes(d.path() / "config.json", text);
    return load_error(d.path());
  };
  expect_contains(with_config("num_blocks", "1000"), "the config's num_blocks is 1000");
  expect_contains(with_config("vocab_size", "1000000"), "but the config's vocab_size and");
  expect_contains(with_config("num_blocks", "1000000000"),
                  "'num_blocks' must be a positive integer of at most 65536");
  expect_contains(with_config("qk_dim_factor", "1e300"),
                  "'qk_dim_factor' must be a positive number of at most 64");
}

TEST(CheckpointErrors, MissingWeightsFileIsNamed) {
  TempDir d;
  fs::copy_file(kModel / "config.json", d.path() / "config.json");
  expect_contains(load_error(d.path()),
                  "neither model.safetensors nor model.safetensors.index.json");
}

TEST(CheckpointErrors, BadShardIndex) {
  TempDir d;
  fs::copy_file(kModel / "config.json", d.path() / "config.json");
  write_bytes(d.path() / "model.safetensors.index.json",
              R"({"weight_map": {"embedding.weight": "../evil.safetensors"}})");
  expect_contains(load_error(d.path()), "is not a file in the model directory");
  write_bytes(d.path() / "model.safetensors.index.json", R"({"metadata": {}})");
  expect_contains(load_error(d.path()), "missing object 'weight_map'");
}

TEST(CheckpointErrors, TokenIdOutsideVocabulary) {
  Model model = Model::load(kModel);
  State s = model.new_state(1);
  const std::vector<int32_t> ids = {1, 100};
  try {
    model.forward(ids, s);
    FAIL();
  } catch (const InvalidInput& e) {
    expect_contains(e.what(), "token id 100 at position 1 outside the vocabulary [0, 100)");
  }
}

}  // namespace
}  // namespace xlstm

namespace xlstm {
namespace {

// One value of tensor kQ set to `bad` (float32 storage).
void poison(std::vector<TensorToWrite>& tensors, size_t index, float bad) {
  for (auto& t : tensors) {
    if (t.name != kQ) continue;
    ASSERT_EQ(t.dtype, DType::F32);
    std::memcpy(t.bytes.data() + index * 4, &bad, 4);
  }
}

TEST(CheckpointErrors, NonFiniteWeightIsNamedWithItsIndex) {
  for (const float bad : {NAN, INFINITY}) {
    TempDir d;
    copy_model(d.path(), [&](auto& t) { poison(t, 37, bad); });
    const std::string e = load_error(d.path());
    expect_contains(e, std::string("tensor '") + kQ + "' holds " +
                           (std::isnan(bad) ? "NaN" : "Inf") + " at flat index 37");
  }
}

TEST(CheckpointErrors, SamplerRefusesNonFiniteLogits) {
  TempDir d;
  copy_model(d.path(), [&](auto& t) { poison(t, 0, NAN); });
  LoadOptions o;
  o.check_weights = false;  // the scan skipped: the NaN reaches the logits
  Model m = Model::load(d.path(), o);
  State s = m.new_state(1);
  const std::vector<double> u{0.5};
  try {
    m.forward_sample(std::vector<int32_t>{1, 2, 3}, s, SamplingParams{}, u);
    ADD_FAILURE() << "sampled from NaN logits";
  } catch (const InvalidInput& e) {
    expect_contains(e.what(), "[sampler] the logit of token");
  }
}

}  // namespace
}  // namespace xlstm

#include "xlstm/npy.h"

namespace xlstm {
namespace {

// A .npy (format 1.0) with this header dict and data bytes.
std::string npy_file(const std::string& dict, size_t data_bytes) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out = std::string("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  return out + header + std::string(data_bytes, '\0');
}

std::string npy_error(const std::string& dict, size_t data_bytes) {
  TempDir d;
  write_bytes(d.path() / "ids.npy", npy_file(dict, data_bytes));
  try {
    read_npy_ids(d.path() / "ids.npy");
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

TEST(NpyErrors, EmptyOverflowingAndMalformedShapesAreNamed) {
  const std::string i4 = "{'descr': '<i4', 'fortran_order': False, 'shape': ";
  expect_contains(npy_error(i4 + "(0, 5), }", 0), "shape (0, 5) is empty");
  expect_contains(npy_error(i4 + "(5, 0), }", 0), "shape (5, 0) is empty");
  expect_contains(npy_error(i4 + "(4294967296, 4294967296), }", 0), "overflows");
  expect_contains(npy_error(i4 + "(99999999999999999999, 1), }", 0),
                  "shape entry '99999999999999999999' is not a dimension");
  expect_contains(npy_error(i4 + "(2, x), }", 0), "shape entry 'x' is not a dimension");
  expect_contains(npy_error(i4 + "(-2, 3), }", 0), "shape entry '-2' is not a dimension");
  expect_contains(
      npy_error("{'descr': '<i99999999999', 'fortran_order': False, 'shape': (1,), }", 4),
      "is not little-endian int32/int64");
  // A good one still loads.
  TempDir d;
  write_bytes(d.path() / "ok.npy", npy_file(i4 + "(1, 2), }", 8));
  EXPECT_EQ(read_npy_ids(d.path() / "ok.npy").ids.size(), 2u);
}

// A .npy of format 2.0 (4-byte header length) with this header dict and two int32 ids, 5 and 6.
NpyIds read_npy2(const std::string& dict) {
  std::string header = dict;
  while ((12 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string bytes = std::string("\x93NUMPY\x02\x00", 8);
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  bytes += header + std::string("\x05\0\0\0\x06\0\0\0", 8);
  TempDir d;
  write_bytes(d.path() / "ids.npy", bytes);
  return read_npy_ids(d.path() / "ids.npy");
}

std::string npy2_error(const std::string& dict) {
  try {
    read_npy2(dict);
  } catch (const InvalidInput& e) {
    return e.what();
  }
  return "";
}

// Headers of any length are scanned, not matched by std::regex, which recursed per character and
// crashed (SIGSEGV) on a 100 KB header (found by fuzz/fuzz_npy).
TEST(NpyErrors, LongHeadersLoadAndStrayKeysAreNamed) {
  const std::string i4 = "{'descr': '<i4', 'fortran_order': False, 'shape': ";
  const std::string spaces(1 << 20, ' ');
  const NpyIds a = read_npy2(i4 + "(" + spaces + "2," + spaces + "), }");
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(a.ids, (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(read_npy2("{\"shape\": (2,), \"descr\": \"<i4\"}").ids.size(), 2u);
  expect_contains(npy2_error(i4 + "(2,), 'x': '" + std::string(1 << 20, 'a') + "'}"),
                  "header key 'x' is not one of 'descr', 'fortran_order', 'shape'");
  expect_contains(npy2_error(i4 + "(2,), 'shape': (2,)}"), "header key 'shape' is given twice");
  expect_contains(npy2_error(i4 + "(,2), }"), "shape entry '' is not a dimension");
  expect_contains(npy2_error(i4 + "(2,) 'x'"), "no ',' or '}' after header key 'shape'");
  expect_contains(npy2_error(i4 + "(2,"), "'shape' has no closing ')'");
  expect_contains(npy2_error("{'descr' '<i4'}"), "no ':' after header key");
  expect_contains(npy2_error("{'descr': '<i4', 'shape': (2,)} x"), "text after the header dict");
  expect_contains(npy2_error("{'descr': '<i4', 'fortran_order': Maybe, 'shape': (2,)}"),
                  "'fortran_order' is not True or False");
  expect_contains(npy2_error("{'descr': '<i4'}"), "no 'shape' in header");
  expect_contains(npy2_error("['descr']"), "header is not a dict");
}

}  // namespace
}  // namespace xlstm
