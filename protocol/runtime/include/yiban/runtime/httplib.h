#pragma once
// Every yiban translation unit includes cpp-httplib through this header, so
// that its settings are the same everywhere (one definition of its inline
// code per program):
// - Debian's cpp-httplib.pc defines CPPHTTPLIB_BROTLI_SUPPORT, and Brotli at
//   httplib's fixed maximum quality takes ~3 s for the 1 MB ECharts file and
//   160 ms for a 200-hall list; gzip (zlib) does it in 80 ms and 3 ms.
// Debian ships cpp-httplib as a compiled library (libcpp-httplib.so), so
// compile-time settings of the server (worker count, listen backlog) are the
// library's, not ours: the worker pool is set at run time instead
// (configure_server in http_server.h: 64 workers, 1 s keep-alive); the
// listen backlog stays at the library's 5, so a burst of new connections
// can be reset and clients retry.
#undef CPPHTTPLIB_BROTLI_SUPPORT
#include <httplib.h>
