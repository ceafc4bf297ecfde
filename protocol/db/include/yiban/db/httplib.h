#pragma once
// Every yiban translation unit includes cpp-httplib through this header, so
// that its settings are the same everywhere (one definition of its inline
// code per program):
// - Debian's cpp-httplib.pc defines CPPHTTPLIB_BROTLI_SUPPORT, and Brotli at
//   httplib's fixed maximum quality takes ~3 s for the 1 MB ECharts file and
//   160 ms for a 200-hall list; gzip (zlib) does it in 80 ms and 3 ms.
// - Live views (SSE) hold a worker each: a larger pool than the default 8.
// - The listen backlog: httplib's default of 5 drops connections when the
//   city's app opens dozens at once (the booking rush); their SYNs are
//   retried a second later, past a client's connect timeout.
#undef CPPHTTPLIB_BROTLI_SUPPORT
#ifndef CPPHTTPLIB_THREAD_POOL_COUNT
#define CPPHTTPLIB_THREAD_POOL_COUNT 32
#endif
#ifndef CPPHTTPLIB_LISTEN_BACKLOG
#define CPPHTTPLIB_LISTEN_BACKLOG 1024
#endif
#include <httplib.h>
