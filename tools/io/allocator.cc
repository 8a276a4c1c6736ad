#include "tools/io/allocator.h"

#include <malloc.h>

namespace starling::io {

void KeepFreedMemoryForReuse() {
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // Pieces below this come from the heap (reused), not from mmap.
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

}  // namespace starling::io
