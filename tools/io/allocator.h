#ifndef STARLING_TOOLS_IO_ALLOCATOR_H_
#define STARLING_TOOLS_IO_ALLOCATOR_H_

namespace starling::io {

// A server that moves message bodies in 64 KiB pieces (ServerEvent::data)
// frees and allocates such a piece per event. With glibc's defaults the free
// shrinks the heap (trim at 128 KiB) and the next allocation grows it again:
// a page fault per 4 KiB and a TLB flush per event, a third of the CPU time
// at 100 kB messages. Keeping up to 64 MiB of freed memory stops that. Call
// once at the start of main().
void KeepFreedMemoryForReuse();

}  // namespace starling::io

#endif  // STARLING_TOOLS_IO_ALLOCATOR_H_
