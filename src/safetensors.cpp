#include "gptrec/safetensors.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "gptrec/error.hpp"
#include "io.hpp"
#include "json_document.hpp"

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace gptrec {

using json = nlohmann::json;

namespace {

struct DTypeName {
  DType dtype;
  std::string_view name;
  std::size_t size;
};

constexpr DTypeName kDTypes[] = {
    {DType::kF64, "F64", 8},   {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2},
    {DType::kBF16, "BF16", 2}, {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4},
    {DType::kI16, "I16", 2},   {DType::kI8, "I8", 1},   {DType::kU64, "U64", 8},
    {DType::kU32, "U32", 4},   {DType::kU16, "U16", 2}, {DType::kU8, "U8", 1},
    {DType::kBool, "BOOL", 1},
};

// The header is JSON text; anything larger than this is not a plausible tensor index.
constexpr std::uint64_t kMaxHeaderBytes = std::uint64_t{100} << 20;

}  // namespace

std::string_view to_string(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.name;
  return "?";
}

std::size_t dtype_size(DType d) {
  for (const auto& e : kDTypes)
    if (e.dtype == d) return e.size;
  return 0;
}

std::int64_t TensorInfo::numel() const {
  std::int64_t n = 1;
  for (auto s : shape) n *= s;
  return n;
}

SafetensorsFile SafetensorsFile::open(const std::filesystem::path& path) {
  auto mapped = std::make_shared<MappedFile>(path, ErrorCode::kBadModel);
  SafetensorsFile f;
  f.source_ = path.string();
  f.bytes_ = mapped->bytes();
  f.owner_ = std::move(mapped);
  f.mapped_ = true;
  f.parse();
  return f;
}

SafetensorsFile SafetensorsFile::from_bytes(std::span<const std::byte> bytes, std::string source) {
  auto copy = std::make_shared<std::vector<std::byte>>(bytes.begin(), bytes.end());
  SafetensorsFile f;
  f.source_ = std::move(source);
  f.bytes_ = std::span<const std::byte>(copy->data(), copy->size());
  f.owner_ = std::move(copy);
  f.parse();
  return f;
}

void SafetensorsFile::parse() {
  auto fail = [&](const std::string& what) -> void {
    throw Error(ErrorCode::kBadModel, source_ + ": " + what);
  };
  if (bytes_.size() < 8)
    fail("truncated: " + std::to_string(bytes_.size()) +
         " bytes, a safetensors file starts with "
         "an 8-byte header length");
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i)
    header_len = (header_len << 8) | static_cast<std::uint8_t>(bytes_[static_cast<std::size_t>(i)]);
  if (header_len > bytes_.size() - 8)
    fail("header length " + std::to_string(header_len) + " runs past the end of the file (" +
         std::to_string(bytes_.size()) + " bytes)");
  if (header_len > kMaxHeaderBytes)
    fail("header length " + std::to_string(header_len) + " is larger than the limit of " +
         std::to_string(kMaxHeaderBytes));
  data_start_ = 8 + static_cast<std::size_t>(header_len);
  const std::uint64_t data_size = bytes_.size() - data_start_;

  const json header =
      parse_json_document(std::string_view(reinterpret_cast<const char*>(bytes_.data() + 8),
                                           static_cast<std::size_t>(header_len)),
                          source_ + ": header", ErrorCode::kBadModel);
  if (!header.is_object()) fail("header is not a JSON object");

  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) fail("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) fail("__metadata__." + k + ": expected a string");
        metadata_[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor " + name + ": ";
    if (!entry.is_object()) fail(where + "entry is not an object");
    TensorInfo t;
    t.name = name;

    auto dt = entry.find("dtype");
    if (dt == entry.end() || !dt->is_string()) fail(where + "missing \"dtype\"");
    const auto dtype_name = dt->get<std::string>();
    const auto* known = std::find_if(std::begin(kDTypes), std::end(kDTypes),
                                     [&](const DTypeName& d) { return d.name == dtype_name; });
    if (known == std::end(kDTypes)) fail(where + "unknown dtype \"" + dtype_name + "\"");
    t.dtype = known->dtype;

    auto sh = entry.find("shape");
    if (sh == entry.end() || !sh->is_array()) fail(where + "missing \"shape\"");
    if (sh->size() > 8) fail(where + "shape has " + std::to_string(sh->size()) + " dimensions");
    // The element count is bounded by the data size, so multiplying stays far from overflow as
    // long as each step is checked against that bound.
    std::uint64_t numel = 1;
    bool empty = false;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) fail(where + "shape " + sh->dump() + " is not a list of sizes");
      const auto dim = d.get<std::uint64_t>();
      if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(where + "shape " + sh->dump() + " is out of range");
      t.shape.push_back(static_cast<std::int64_t>(dim));
      if (dim == 0) empty = true;
      if (!empty) {
        if (dim > data_size + 1 || numel > (data_size + 1) / dim)
          fail(where + "shape " + sh->dump() + " holds more elements than the file");
        numel *= dim;
      }
    }
    if (empty) numel = 0;

    auto off = entry.find("data_offsets");
    if (off == entry.end() || !off->is_array() || off->size() != 2 ||
        !(*off)[0].is_number_unsigned() || !(*off)[1].is_number_unsigned())
      fail(where + "\"data_offsets\" must be [begin, end]");
    t.begin = (*off)[0].get<std::uint64_t>();
    t.end = (*off)[1].get<std::uint64_t>();
    if (t.begin > t.end) fail(where + "data_offsets " + off->dump() + " end before they begin");
    if (t.end > data_size)
      fail(where + "data_offsets " + off->dump() + " run past the end of the data (" +
           std::to_string(data_size) + " bytes)");
    const std::uint64_t expected = numel * known->size;
    if (t.end - t.begin != expected)
      fail(where + "holds " + std::to_string(t.end - t.begin) + " bytes, but dtype " + dtype_name +
           " and shape " + sh->dump() + " need " + std::to_string(expected));
    tensors_.push_back(std::move(t));
  }

  // Tensors may not share bytes.
  std::vector<const TensorInfo*> by_offset;
  for (const auto& t : tensors_)
    if (t.end > t.begin) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (std::size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      fail("tensors " + by_offset[i - 1]->name + " and " + by_offset[i]->name + " overlap");
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

std::span<const std::byte> SafetensorsFile::data(const TensorInfo& t) const {
  return bytes_.subspan(data_start_ + t.begin, t.end - t.begin);
}

void SafetensorsFile::release(const TensorInfo& t) const { release(t, 0, t.end - t.begin); }

void SafetensorsFile::release(const TensorInfo& t, std::uint64_t first, std::uint64_t count) const {
#if defined(__linux__) && defined(MADV_DONTNEED)
  if (!mapped_) return;
  const auto all = data(t);
  first = std::min<std::uint64_t>(first, all.size());
  count = std::min<std::uint64_t>(count, all.size() - first);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const auto from = reinterpret_cast<std::uintptr_t>(all.data()) + first;
  const auto begin = (from + page - 1) & ~(page - 1);
  const auto end = (from + count) & ~(page - 1);
  // A read-only private mapping of the file: the pages are dropped and read again on demand.
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
#else
  (void)t;
  (void)first;
  (void)count;
#endif
}

void SafetensorsFile::read_as_float32(const TensorInfo& t, std::span<float> out) const {
  const auto n = static_cast<std::size_t>(t.numel());
  if (out.size() != n)
    throw Error(ErrorCode::kInternal, source_ + ": tensor " + t.name + ": output size mismatch");
  const std::byte* src = data(t).data();
  switch (t.dtype) {
    case DType::kF32:
      std::memcpy(out.data(), src, n * 4);
      break;
    case DType::kF64:
      for (std::size_t i = 0; i < n; ++i) {
        double v;
        std::memcpy(&v, src + 8 * i, 8);
        out[i] = static_cast<float>(v);
      }
      break;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        out[i] = static_cast<float>(Eigen::numext::bit_cast<Eigen::half>(bits));
      }
      break;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t bits;
        std::memcpy(&bits, src + 2 * i, 2);
        const std::uint32_t wide = static_cast<std::uint32_t>(bits) << 16;
        std::memcpy(&out[i], &wide, 4);
      }
      break;
    default:
      throw Error(ErrorCode::kBadModel,
                  source_ + ": tensor " + t.name + ": dtype " + std::string(to_string(t.dtype)) +
                      " is not a floating-point type (expected F32, F16 or BF16)");
  }
}

std::vector<std::byte> serialize_safetensors(std::span<const TensorToWrite> tensors,
                                             const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    std::uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<std::uint64_t>(d);
    if (numel * dtype_size(t.dtype) != t.data.size())
      throw Error(ErrorCode::kInvalidArgument,
                  "tensor " + t.name + ": data size does not match dtype and shape");
    header[t.name] = {{"dtype", std::string(to_string(t.dtype))},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.data.size()}}};
    offset += t.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::vector<std::byte> out(8 + text.size() + offset);
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<std::byte>((n >> (8 * i)) & 0xff);
  std::memcpy(out.data() + 8, text.data(), text.size());
  std::size_t pos = 8 + text.size();
  for (const auto& t : tensors) {
    if (!t.data.empty()) std::memcpy(out.data() + pos, t.data.data(), t.data.size());
    pos += t.data.size();
  }
  return out;
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomically(path, serialize_safetensors(tensors, metadata));
}

}  // namespace gptrec
