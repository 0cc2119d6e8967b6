// safetensors reader (mmap, zero-copy) for one file or a sharded checkpoint
// (model.safetensors.index.json), and a writer. Every header field is validated.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/mapped_file.h"

namespace r1 {


// All tensors of a HF checkpoint directory (or a single .safetensors file). TensorView.ne is in
// ggml order (reversed safetensors shape), so a [out][in] Linear weight has ne = {in, out}.
class SafetensorsSet {
 public:
  // path: a .safetensors file, a model.safetensors.index.json, or a directory holding either.
  // load: how the tensor data is brought in (io/mapped_file.h); model loads use FileLoad::Auto.
  static std::unique_ptr<SafetensorsSet> open(const std::string& path, FileLoad load = FileLoad::Map);
  // Parses one .safetensors image already in memory; `name` stands for the file in messages. The
  // bytes must outlive the returned object. Used by the fuzzers and tests.
  static std::unique_ptr<SafetensorsSet> from_memory(const void* data, size_t size, const std::string& name);
  ~SafetensorsSet();

  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;
  const TensorView& get(const std::string& name) const;  // throws "<dir>: missing tensor <name>"
  const std::map<std::string, std::string>& metadata() const { return metadata_; }  // __metadata__
  const std::string& path() const { return path_; }

  // For load-time repacking (as GgufFile::writable): t's bytes, writable until seal(), or null when t
  // lives in a mapped file.
  uint8_t* writable(const TensorView& t);
  void seal();

 private:
  SafetensorsSet() = default;
  static std::unique_ptr<SafetensorsSet> open_file(const std::string& path, FileLoad load);
  static std::unique_ptr<SafetensorsSet> open_index(const std::string& path, FileLoad load);
  void add(TensorView t);  // throws on a duplicate name

  std::string path_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::vector<std::unique_ptr<MappedFile>> maps_;
  friend struct SafetensorsParser;
};

class SafetensorsWriter {
 public:
  // shape in safetensors (row-major) order; data must stay valid until write().
  void add(const std::string& name, DType type, const std::vector<int64_t>& shape, const void* data, size_t nbytes);
  void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  void write(const std::string& path) const;
  // Writes "model-00001-of-0000N.safetensors" shards of at most max_shard_bytes of tensor data
  // (a larger tensor gets a shard of its own; 0 = no limit) plus model.safetensors.index.json
  // into dir (created if missing). Returns the shard paths, then the index path.
  std::vector<std::string> write_sharded(const std::string& dir, uint64_t max_shard_bytes) const;

 private:
  struct Pending {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
  };
  static void write_file(const std::string& path, const std::vector<const Pending*>& tensors,
                         const std::map<std::string, std::string>& metadata);

  std::vector<Pending> tensors_;
  std::map<std::string, std::string> metadata_;
};

// The header's size limit (SPEC §6), checked before anything is read or allocated.
constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

}  // namespace r1
