// safetensors reader (SPEC §6): u64 header length, JSON header, byte buffer. Every entry's dtype,
// shape, size and offsets are checked before a TensorView points into the mapping. A sharded
// checkpoint is read through model.safetensors.index.json's weight_map.
#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/mapped_file.h"
#include "io/safetensors.h"

namespace r1 {

static_assert(std::endian::native == std::endian::little, "safetensors files are read in place: little-endian only");

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

uint64_t unsigned_field(const json& v, const std::string& file, const std::string& name, const char* what) {
  if (!v.is_number_unsigned()) fail(file, ": tensor ", name, ": ", what, " must be non-negative integers");
  return v.get<uint64_t>();
}

// Parses the header of one file image and returns its tensors in data order.
std::vector<TensorView> parse_file(const uint8_t* data, size_t size, const std::string& file,
                                   std::map<std::string, std::string>& metadata) {
  if (size < 8) fail(file, ": not a safetensors file (only ", size, " bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, data, 8);
  if (header_len > kMaxSafetensorsHeaderBytes)
    fail(file, ": header length ", header_len, " is over the ", kMaxSafetensorsHeaderBytes, "-byte limit");
  if (header_len > size - 8)
    fail(file, ": header length ", header_len, " is larger than the file (", size, " bytes)");
  const char* header = reinterpret_cast<const char*>(data + 8);
  if (header_len == 0 || header[0] != '{') fail(file, ": header does not start with '{'");

  // nlohmann keeps the last of two equal keys; the format forbids duplicates, so watch for them.
  std::set<std::string> seen;
  std::string duplicate;
  auto watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1 && !seen.insert(parsed.get<std::string>()).second &&
        duplicate.empty())
      duplicate = parsed.get<std::string>();
    return true;
  };
  json h;
  try {
    h = json::parse(header, header + header_len, watch);
  } catch (const json::exception& e) {
    fail(file, ": malformed JSON header: ", e.what());
  }
  if (!h.is_object()) fail(file, ": header is not a JSON object");
  if (!duplicate.empty()) fail(file, ": duplicate tensor ", duplicate, " in the header");

  const uint8_t* buffer = data + 8 + header_len;
  const uint64_t buffer_size = size - 8 - header_len;
  struct Placed {
    uint64_t begin, end;
    TensorView view;
  };
  std::vector<Placed> placed;
  for (const auto& [name, entry] : h.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail(file, ": __metadata__ is not a JSON object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail(file, ": __metadata__ value of ", k, " is not a string");
        metadata[k] = v.get<std::string>();
      }
      continue;
    }
    if (!entry.is_object()) fail(file, ": tensor ", name, ": entry is not a JSON object");
    auto dtype_it = entry.find("dtype");
    auto shape_it = entry.find("shape");
    auto offsets_it = entry.find("data_offsets");
    if (dtype_it == entry.end() || !dtype_it->is_string()) fail(file, ": tensor ", name, ": missing dtype");
    if (shape_it == entry.end() || !shape_it->is_array()) fail(file, ": tensor ", name, ": missing shape");
    if (offsets_it == entry.end() || !offsets_it->is_array() || offsets_it->size() != 2)
      fail(file, ": tensor ", name, ": data_offsets must be [begin, end]");

    TensorView t;
    t.name = name;
    const std::string dtype = dtype_it->get<std::string>();
    const std::optional<DType> type = from_safetensors_dtype(dtype);
    if (!type) fail(file, ": tensor ", name, " has unsupported dtype ", dtype);
    t.type = *type;
    const json& shape = *shape_it;
    if (shape.size() > 4) fail(file, ": tensor ", name, " has ", shape.size(), " dimensions (at most 4)");
    t.n_dims = static_cast<int>(shape.size());
    uint64_t elements = 1;
    for (size_t i = 0; i < shape.size(); ++i) {
      const uint64_t n = unsigned_field(shape[i], file, name, "shape entries");
      if (__builtin_mul_overflow(elements, n, &elements) ||
          elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        fail(file, ": tensor ", name, " element count overflows");
      t.ne[shape.size() - 1 - i] = static_cast<int64_t>(n);  // row-major shape -> ggml ne
    }
    const uint64_t begin = unsigned_field((*offsets_it)[0], file, name, "data_offsets");
    const uint64_t end = unsigned_field((*offsets_it)[1], file, name, "data_offsets");
    if (begin > end) fail(file, ": tensor ", name, " has data_offsets [", begin, ", ", end, "] with begin > end");
    if (end > buffer_size)
      fail(file, ": tensor ", name, " data_offsets [", begin, ", ", end, "] lie outside the ", buffer_size,
           "-byte data buffer");
    uint64_t nbytes = 0;
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(dtype_traits(t.type).block_bytes), &nbytes) ||
        nbytes != end - begin)
      fail(file, ": tensor ", name, " of shape ", shape.dump(), " and dtype ", dtype, " needs ", elements, " x ",
           dtype_traits(t.type).block_bytes, " bytes but data_offsets span ", end - begin);
    t.nbytes = nbytes;
    t.data = buffer + begin;
    placed.push_back({begin, end, std::move(t)});
  }

  std::sort(placed.begin(), placed.end(),
            [](const Placed& a, const Placed& b) { return a.begin != b.begin ? a.begin < b.begin : a.end < b.end; });
  const Placed* prev = nullptr;  // the last tensor with bytes; empty tensors overlap nothing
  for (const Placed& p : placed) {
    if (p.begin == p.end) continue;
    if (prev && p.begin < prev->end)
      fail(file, ": tensors ", prev->view.name, " and ", p.view.name, " overlap in the data buffer");
    prev = &p;
  }
  std::vector<TensorView> out;
  out.reserve(placed.size());
  for (Placed& p : placed) out.push_back(std::move(p.view));
  return out;
}

// A shard name from weight_map, resolved next to the index. Names that would leave the
// checkpoint directory are refused.
fs::path shard_path(const fs::path& dir, const std::string& shard, const std::string& index) {
  const fs::path p(shard);
  bool escapes = shard.empty() || p.is_absolute();
  for (const auto& part : p) escapes = escapes || part == "..";
  if (escapes) fail(index, ": weight_map names shard \"", shard, "\", which is not a file name inside ", dir.string());
  return dir / p;
}

}  // namespace

struct SafetensorsParser {
  static void parse(SafetensorsSet& s, const uint8_t* data, size_t size, const std::string& file) {
    for (TensorView& t : parse_file(data, size, file, s.metadata_)) s.add(std::move(t));
  }
};

void SafetensorsSet::add(TensorView t) {
  if (!index_.emplace(t.name, tensors_.size()).second) fail(path_, ": duplicate tensor ", t.name);
  tensors_.push_back(std::move(t));
}

std::unique_ptr<SafetensorsSet> SafetensorsSet::from_memory(const void* data, size_t size, const std::string& name) {
  std::unique_ptr<SafetensorsSet> s(new SafetensorsSet());
  s->path_ = name;
  SafetensorsParser::parse(*s, static_cast<const uint8_t*>(data), size, name);
  return s;
}

std::unique_ptr<SafetensorsSet> SafetensorsSet::open_file(const std::string& path, FileLoad load) {
  auto map = std::make_unique<MappedFile>(path, load);
  std::unique_ptr<SafetensorsSet> s(new SafetensorsSet());
  s->path_ = path;
  SafetensorsParser::parse(*s, map->data(), map->size(), path);
  s->maps_.push_back(std::move(map));
  return s;
}

// The index maps each tensor name to its shard. Only listed tensors are taken, each from the
// shard the index names; shards are read in name order, tensors in data order within a shard.
std::unique_ptr<SafetensorsSet> SafetensorsSet::open_index(const std::string& path, FileLoad load) {
  const json index = read_json_file(path);
  if (!index.is_object()) fail(path, ": not a JSON object");
  auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) fail(path, ": missing weight_map object");
  std::map<std::string, std::set<std::string>> by_shard;
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string()) fail(path, ": weight_map entry for ", name, " is not a string");
    by_shard[shard.get<std::string>()].insert(name);
  }

  std::unique_ptr<SafetensorsSet> s(new SafetensorsSet());
  s->path_ = path;
  const fs::path dir = fs::path(path).parent_path();
  if (load == FileLoad::Auto) {  // decided for all shards together
    uint64_t total = 0;
    for (const auto& [shard, names] : by_shard) {
      std::error_code ec;
      const uint64_t n = fs::file_size(shard_path(dir, shard, path), ec);
      if (!ec) total += n;  // a missing shard fails below, with its name
    }
    load = resolve_file_load(load, total);
  }
  for (const auto& [shard, names] : by_shard) {
    const fs::path p = shard_path(dir, shard, path);
    if (!fs::exists(p)) fail(path, ": shard ", shard, " (holding ", *names.begin(), ") does not exist");
    auto map = std::make_unique<MappedFile>(p.string(), load);
    std::map<std::string, std::string> metadata;
    std::vector<TensorView> tensors = parse_file(map->data(), map->size(), p.string(), metadata);
    size_t found = 0;
    for (TensorView& t : tensors) {
      if (!names.count(t.name)) continue;
      s->add(std::move(t));
      ++found;
    }
    if (found != names.size()) {
      for (const std::string& name : names)
        if (!s->find(name)) fail(path, ": tensor ", name, " is listed in weight_map but missing from shard ", shard);
    }
    s->metadata_.insert(metadata.begin(), metadata.end());  // the first shard's value wins
    s->maps_.push_back(std::move(map));
  }
  return s;
}

std::unique_ptr<SafetensorsSet> SafetensorsSet::open(const std::string& path, FileLoad load) {
  std::unique_ptr<SafetensorsSet> s;
  if (fs::is_directory(path)) {
    const fs::path index = fs::path(path) / "model.safetensors.index.json";
    const fs::path single = fs::path(path) / "model.safetensors";
    if (fs::exists(index)) s = open_index(index.string(), load);
    else if (fs::exists(single)) s = open_file(single.string(), load);
    else fail(path, ": no model.safetensors.index.json or model.safetensors in this directory");
  } else if (path.ends_with(".index.json")) {
    s = open_index(path, load);
  } else {
    s = open_file(path, load);
  }
  s->path_ = path;
  return s;
}

SafetensorsSet::~SafetensorsSet() = default;

const TensorView* SafetensorsSet::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

uint8_t* SafetensorsSet::writable(const TensorView& t) { return writable_bytes(maps_, t.data, t.nbytes); }

void SafetensorsSet::seal() { seal_files(maps_); }

const TensorView& SafetensorsSet::get(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) fail(path_, ": missing tensor ", name);
  return *t;
}

}  // namespace r1
