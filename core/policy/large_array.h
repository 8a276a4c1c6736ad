#ifndef STARLING_CORE_POLICY_LARGE_ARRAY_H_
#define STARLING_CORE_POLICY_LARGE_ARRAY_H_

#include <cstddef>
#include <new>

namespace starling::policy {

// Marks the whole 2 MiB pages inside [data, data + bytes) for transparent
// huge pages (Linux madvise(MADV_HUGEPAGE); elsewhere, or for smaller blocks,
// nothing). Called before the block is first touched.
void AdviseHugePages(void* data, size_t bytes);

// The allocator of a large table's big arrays (its indexes, the key batch of
// a bulk load). Filling a 50 MB index 4 KiB page by page takes ~12,000 page
// faults, each costly under virtualisation; with huge pages a few dozen.
// Otherwise it is operator new.
template <typename T>
struct LargeArrayAllocator {
  using value_type = T;
  LargeArrayAllocator() = default;
  template <typename U>
  LargeArrayAllocator(const LargeArrayAllocator<U>&) {}  // NOLINT: rebinding
  T* allocate(size_t n) {
    void* data = ::operator new(n * sizeof(T));
    AdviseHugePages(data, n * sizeof(T));
    return static_cast<T*>(data);
  }
  void deallocate(T* data, size_t) { ::operator delete(data); }
  template <typename U>
  friend bool operator==(const LargeArrayAllocator&,
                         const LargeArrayAllocator<U>&) {
    return true;
  }
};

}  // namespace starling::policy

#endif  // STARLING_CORE_POLICY_LARGE_ARRAY_H_
