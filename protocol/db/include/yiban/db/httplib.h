#pragma once
// Every yiban translation unit includes cpp-httplib through this header, so
// that its settings are the same everywhere (one definition of its inline
// code per program):
// - Debian's cpp-httplib.pc defines CPPHTTPLIB_BROTLI_SUPPORT, and Brotli at
//   httplib's fixed maximum quality takes ~3 s for the 1 MB ECharts file and
//   160 ms for a 200-hall list; gzip (zlib) does it in 80 ms and 3 ms.
// - Live views (SSE) hold a worker each: a larger pool than the default 8.
#undef CPPHTTPLIB_BROTLI_SUPPORT
#ifndef CPPHTTPLIB_THREAD_POOL_COUNT
#define CPPHTTPLIB_THREAD_POOL_COUNT 32
#endif
#include <httplib.h>
