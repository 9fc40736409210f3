#include <cstdint>
#include <thread>
#include <vector>

#include "{{top}}.h"

// Runs frames [first, last) through the top function.  in: IN_ELEMS integers per frame, out: OUT_ELEMS per frame
// (NHWC order).  Returns 0, or -(i + 1) when frame i left the streams in a state the design never should.
static int run_frames(const int64_t *in, int64_t *out, int first, int last) {
    for (int i = first; i < last; i++) {
        hls::stream<in_port_t> in_stream("in_stream");
        hls::stream<out_port_t> out_stream("out_stream");
        for (unsigned e = 0; e < IN_ELEMS; e++) {
            in_stream.write(in_port_t(in[(int64_t)i * IN_ELEMS + e]));
        }
        {{top}}(in_stream, out_stream);
        if (!in_stream.empty() || out_stream.size() != OUT_ELEMS) return -(i + 1);
        for (unsigned e = 0; e < OUT_ELEMS; e++) {
            out[(int64_t)i * OUT_ELEMS + e] = (int64_t)out_stream.read();
        }
    }
    return 0;
}

extern "C" int convflow_run(const int64_t *in, int64_t *out, int n) { return run_frames(in, out, 0, n); }

// The same on `threads` threads, each on a contiguous share of the batch.  Frames are independent: every stage
// keeps its state (line buffers, accumulators) in locals of one call, so frames may run concurrently.
extern "C" int convflow_run_parallel(const int64_t *in, int64_t *out, int n, int threads) {
    if (threads > n) threads = n;
    if (threads <= 1) return run_frames(in, out, 0, n);
    std::vector<int> status(threads, 0);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; t++) {
        const int first = (int)((int64_t)n * t / threads), last = (int)((int64_t)n * (t + 1) / threads);
        pool.emplace_back([=, &status]() { status[t] = run_frames(in, out, first, last); });
    }
    for (std::thread &worker : pool) worker.join();
    for (int s : status) {
        if (s != 0) return s;
    }
    return 0;
}

extern "C" int convflow_in_elems(void) { return (int)IN_ELEMS; }
extern "C" int convflow_out_elems(void) { return (int)OUT_ELEMS; }
