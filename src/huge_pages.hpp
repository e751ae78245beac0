// Transparent huge pages for large buffers (private).
#pragma once

#include <cstddef>
#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace gptrec {

// Asks the kernel to back the whole 2 MiB pages inside [data, data + bytes) with huge pages
// (MADV_HUGEPAGE; a hint, failures are ignored). Call before the buffer is first written: on
// these machines a 4 KiB page fault costs microseconds, and a fresh 800 MB logits buffer takes
// 200,000 of them; a huge page fault covers 512 pages. Buffers under 4 MiB are left alone.
inline void advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (data == nullptr || bytes < 2 * kHuge) return;
  const auto begin = (reinterpret_cast<std::uintptr_t>(data) + kHuge - 1) & ~(kHuge - 1);
  const auto end = (reinterpret_cast<std::uintptr_t>(data) + bytes) & ~(kHuge - 1);
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)data;
  (void)bytes;
#endif
}

}  // namespace gptrec
