// Reading and writing the safetensors format, written from its specification:
//   [8 bytes: header length N, little-endian u64] [N bytes: JSON header] [data]
// The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the start of the data) plus an optional "__metadata__" object of strings.
//
// Every length, offset, shape and dtype is checked before any tensor byte is touched; a problem
// is an Error(kBadModel) naming the file and the tensor.
//
// Thread-safety: a SafetensorsFile is immutable after opening; its const methods may be called
// from many threads at once. The free functions keep no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace gptrec {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU64, kU32, kU16, kU8, kBool };

// The safetensors spelling ("F32", "BF16", ...) and the size of one element in bytes.
std::string_view to_string(DType d);
std::size_t dtype_size(DType d);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;  // byte offsets into the data section
  std::uint64_t end = 0;

  std::int64_t numel() const;
};

class SafetensorsFile {
 public:
  // Memory-maps and validates the file. Throws Error(kBadModel) naming the file (and tensor) when
  // it cannot be opened or mapped, or its header, offsets, shapes or dtypes are invalid.
  static SafetensorsFile open(const std::filesystem::path& path);
  // Validates an in-memory image; `source` names it in errors. The bytes are copied. Errors as
  // open().
  static SafetensorsFile from_bytes(std::span<const std::byte> bytes, std::string source);

  const std::string& source() const { return source_; }
  std::uint64_t file_size() const { return bytes_.size(); }
  // Tensors in header order.
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // nullptr when absent.
  const TensorInfo* find(std::string_view name) const;
  // The tensor's bytes (already checked to lie inside the file).
  std::span<const std::byte> data(const TensorInfo& t) const;

  // Converts a floating-point tensor (F32, F16, BF16, F64) to float32; other dtypes are
  // Error(kBadModel) naming the tensor. `out` must hold exactly t.numel() values
  // (Error(kInternal) otherwise).
  void read_as_float32(const TensorInfo& t, std::span<float> out) const;

  // For a memory-mapped file: gives the memory of the tensor's whole pages back to the system
  // (a tensor the caller has copied and will rarely read again); a later read maps them in again
  // from the file, so data() stays valid. No effect on an in-memory image (from_bytes).
  void release(const TensorInfo& t) const;
  // The same for bytes [first, first + count) of the tensor's data (clamped to it).
  void release(const TensorInfo& t, std::uint64_t first, std::uint64_t count) const;

 private:
  SafetensorsFile() = default;
  void parse();

  std::string source_;
  std::shared_ptr<const void> owner_;  // keeps the mapping or buffer alive
  std::span<const std::byte> bytes_;
  bool mapped_ = false;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> data;  // numel * dtype_size bytes, little-endian
};

// Serialises tensors (in the given order, 8-byte aligned data) to a safetensors image. Throws
// Error(kInvalidArgument) naming a tensor whose data size does not match its dtype and shape.
std::vector<std::byte> serialize_safetensors(
    std::span<const TensorToWrite> tensors,
    const std::map<std::string, std::string>& metadata = {});
// Writes the image atomically (temporary file + rename). Errors as serialize_safetensors, and
// Error(kIo) naming the path when it cannot be written.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace gptrec
