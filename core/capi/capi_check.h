/* Assertions for the C API tests (C99): a failed check prints where, what
 * and starling_last_error(), then exits 1. */
#ifndef STARLING_CORE_CAPI_CAPI_CHECK_H_
#define STARLING_CORE_CAPI_CAPI_CHECK_H_

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/capi/starling.h"

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (!(cond)) {                                                         \
      fprintf(stderr, "%s:%d: CHECK failed: %s (last error: %s)\n",        \
              __FILE__, __LINE__, #cond, starling_last_error());           \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

#define CHECK_STATUS(expr, want)                                           \
  do {                                                                     \
    starling_status got_ = (expr);                                         \
    if (got_ != (want)) {                                                  \
      fprintf(stderr, "%s:%d: %s returned %s, want %s (last error: %s)\n", \
              __FILE__, __LINE__, #expr, starling_status_name(got_),       \
              starling_status_name(want), starling_last_error());          \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

#define CHECK_OK(expr) CHECK_STATUS(expr, STARLING_OK)

/* 2027-01-01T00:00:00Z: inside the test certificate's validity. */
#define TEST_NOW ((starling_time)1798761600 * 1000000000)
#define SECONDS(n) ((starling_time)(n) * 1000000000)

static inline int bytes_contain(starling_bytes b, const char* needle) {
  const size_t n = strlen(needle);
  if (n > b.size) return 0;
  for (size_t i = 0; i + n <= b.size; ++i) {
    if (memcmp(b.data + i, needle, n) == 0) return 1;
  }
  return 0;
}

static inline int bytes_equal(starling_bytes b, const char* text) {
  return b.size == strlen(text) && memcmp(b.data, text, b.size) == 0;
}

/* Reads a whole test data file (runfiles-relative) into a malloc'd buffer. */
static inline char* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  CHECK(f != NULL);
  char* data = NULL;
  size_t used = 0;
  size_t capacity = 0;
  for (;;) {
    if (used == capacity) {
      capacity = capacity ? capacity * 2 : 4096;
      data = (char*)realloc(data, capacity + 1);
      CHECK(data != NULL);
    }
    const size_t n = fread(data + used, 1, capacity - used, f);
    if (n == 0) break;
    used += n;
  }
  fclose(f);
  data[used] = '\0';
  *size = used;
  return data;
}

#endif /* STARLING_CORE_CAPI_CAPI_CHECK_H_ */
