// safetensors writer: JSON header padded with spaces so the data buffer starts 8-byte aligned,
// then the tensors back to back in the order they were added.
#include <cstdio>
#include <filesystem>

#include "core/error.h"
#include "io/file_writer.h"
#include "io/safetensors.h"

#include <nlohmann/json.hpp>

namespace r1 {

void SafetensorsWriter::add(const std::string& name, DType type, const std::vector<int64_t>& shape, const void* data,
                            size_t nbytes) {
  if (name.empty() || name == "__metadata__") fail("safetensors writer: invalid tensor name \"", name, "\"");
  for (const Pending& t : tensors_)
    if (t.name == name) fail("safetensors writer: duplicate tensor ", name);
  to_safetensors_dtype(type);  // throws for types safetensors cannot hold
  uint64_t elements = 1;
  for (int64_t n : shape)
    if (n < 0 || __builtin_mul_overflow(elements, static_cast<uint64_t>(n), &elements))
      fail("safetensors writer: tensor ", name, " has an invalid shape");
  const uint64_t expected = elements * static_cast<uint64_t>(dtype_traits(type).block_bytes);
  if (nbytes != expected)
    fail("safetensors writer: tensor ", name, " has ", nbytes, " bytes of data, its shape needs ", expected);
  tensors_.push_back({name, type, shape, data, nbytes});
}

void SafetensorsWriter::write_file(const std::string& path, const std::vector<const Pending*>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Pending* t : tensors) {
    header[t->name] = {{"dtype", to_safetensors_dtype(t->type)},
                       {"shape", t->shape},
                       {"data_offsets", {offset, offset + t->nbytes}}};
    offset += t->nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t len = text.size();

  FileWriter f(path);
  f.write(&len, sizeof(len));
  f.write(text.data(), text.size());
  for (const Pending* t : tensors) f.write(t->data, t->nbytes);
  f.close();
}

void SafetensorsWriter::write(const std::string& path) const {
  std::vector<const Pending*> all;
  for (const Pending& t : tensors_) all.push_back(&t);
  write_file(path, all, metadata_);
}

std::vector<std::string> SafetensorsWriter::write_sharded(const std::string& dir, uint64_t max_shard_bytes) const {
  std::vector<std::vector<const Pending*>> shards(1);
  uint64_t shard_bytes = 0, total = 0;
  for (const Pending& t : tensors_) {
    if (max_shard_bytes && !shards.back().empty() && shard_bytes + t.nbytes > max_shard_bytes) {
      shards.emplace_back();
      shard_bytes = 0;
    }
    shards.back().push_back(&t);
    shard_bytes += t.nbytes;
    total += t.nbytes;
  }

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) fail("cannot create directory ", dir, ": ", ec.message());
  std::vector<std::string> written;
  nlohmann::json weight_map = nlohmann::json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    written.push_back((std::filesystem::path(dir) / name).string());
    write_file(written.back(), shards[i], metadata_);
    for (const Pending* t : shards[i]) weight_map[t->name] = name;
  }

  const nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
  const std::string text = index.dump(2) + "\n";
  written.push_back((std::filesystem::path(dir) / "model.safetensors.index.json").string());
  FileWriter f(written.back());
  f.write(text.data(), text.size());
  f.close();
  return written;
}

}  // namespace r1
