// convflow rtlsim testbench (hw/sim/rtlsim_tb.cpp, compiled by runtime/backends/rtlsim.py against the Verilator model
// of an artifact's cf_accel): streams frames through it back to back, with optional random stalls on the input
// (s_valid withheld) and back-pressure on the output (m_ready low), and measures the pipeline.
//
// usage: tb in.bin out.bin stats.json frames in_elems out_elems in_bits out_bits out_signed p_2e32 seed
//           max_cycles stall_cycles [pattern]
// pattern (of m_ready; s_valid is withheld at random with p_2e32 in every pattern): 0 random (low with probability
// p on any cycle), 1 bursts (low and high in turn for runs of 1..BURST_MAX cycles each, uniformly drawn: long stalls
// that fill every buffer of the design), 2 toggle (low every other cycle).
// Exit 0: every output came.  3: max_cycles ran out.  4: no handshake for stall_cycles cycles (a stall: the data
// stopped inside the pipeline, or the design stopped taking input).  5: stopped by SIGTERM (a wall-clock limit).
// In every case stats.json says how far the run got.
#include "Vcf_accel.h"
#include "verilated.h"
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

static uint64_t rng_state;
static inline uint32_t rnd() {              // xorshift64*
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static const uint32_t BURST_MAX = 64;      // cycles: longer than any unit's pipeline, so its credit reaches zero

static volatile std::sig_atomic_t stop_requested = 0;
static void on_term(int) { stop_requested = 1; }

int main(int argc, char** argv) {
    if (argc < 14) {
        std::fprintf(stderr, "usage: in out stats frames in_elems out_elems in_bits out_bits out_signed p_2e32 seed "
                             "max_cycles stall_cycles\n");
        return 2;
    }
    const char* in_path = argv[1]; const char* out_path = argv[2]; const char* stats_path = argv[3];
    long frames = atol(argv[4]), in_elems = atol(argv[5]), out_elems = atol(argv[6]);
    int in_bits = atoi(argv[7]); int out_bits = atoi(argv[8]); int out_signed = atoi(argv[9]);
    uint32_t p = (uint32_t)strtoul(argv[10], 0, 10);   // stall probability * (2^32 - 1)
    rng_state = strtoull(argv[11], 0, 10) * 0x9E3779B97F4A7C15ULL + 1;
    uint64_t max_cycles = strtoull(argv[12], 0, 10);
    uint64_t stall_cycles = strtoull(argv[13], 0, 10);
    int pattern = argc > 14 ? atoi(argv[14]) : 0;
    uint32_t burst_left = 0;                            // cycles left in the current run of m_ready (pattern 1)
    bool burst_low = false;
    std::signal(SIGTERM, on_term);

    long n_in = frames * in_elems, n_out = frames * out_elems;
    std::vector<int64_t> in(n_in), out(n_out);
    FILE* f = std::fopen(in_path, "rb");
    if (!f || (long)std::fread(in.data(), 8, n_in, f) != n_in) {
        std::fprintf(stderr, "cannot read %s\n", in_path);
        return 2;
    }
    std::fclose(f);
    const uint64_t in_mask = in_bits >= 64 ? ~0ULL : ((1ULL << in_bits) - 1);
    const uint64_t out_mask = out_bits >= 64 ? ~0ULL : ((1ULL << out_bits) - 1);

    VerilatedContext* ctx = new VerilatedContext;
    Vcf_accel* top = new Vcf_accel{ctx};
    std::vector<uint64_t> first_in(frames, 0), last_out(frames, 0);
    top->clk = 0; top->rst = 1; top->s_valid = 0; top->m_ready = 0; top->s_data = 0;
    for (int i = 0; i < 4; i++) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }
    top->rst = 0;
    const auto loop_start = std::chrono::steady_clock::now();   // the simulation itself, without load and save
    long ii = 0, oi = 0;
    uint64_t cycle = 0, last_in_cycle = 0, last_out_cycle = 0, last_fire = 0;
    int status = 0;
    while (oi < n_out) {
        if (cycle >= max_cycles) { status = 3; break; }
        if (cycle - last_fire > stall_cycles) { status = 4; break; }
        if (stop_requested) { status = 5; break; }
        bool stall_in = p && rnd() < p;
        bool stall_out = p && rnd() < p;
        if (pattern == 1) {
            if (burst_left == 0) { burst_low = !burst_low; burst_left = 1 + rnd() % BURST_MAX; }
            burst_left--;
            stall_out = burst_low;
        } else if (pattern == 2) {
            stall_out = cycle & 1;
        }
        top->s_valid = (ii < n_in) && !stall_in;
        top->s_data = (ii < n_in) ? ((uint64_t)in[ii] & in_mask) : 0;
        top->m_ready = !stall_out;
        top->clk = 0; top->eval();
        bool in_fire = top->s_valid && top->s_ready;
        if (top->m_valid && top->m_ready) {
            uint64_t v = (uint64_t)top->m_data & out_mask;
            if (out_signed && out_bits < 64 && (v >> (out_bits - 1)) & 1) v |= ~out_mask;
            out[oi] = (int64_t)v;
            if ((oi + 1) % out_elems == 0) last_out[oi / out_elems] = cycle;
            oi++;
            last_out_cycle = last_fire = cycle;
        }
        if (in_fire) {
            if (ii % in_elems == 0) first_in[ii / in_elems] = cycle;
            ii++;
            last_in_cycle = last_fire = cycle;
        }
        top->clk = 1; top->eval();
        cycle++;
    }
    const double loop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
    top->final();
    f = std::fopen(out_path, "wb");
    if (f) { std::fwrite(out.data(), 8, oi, f); std::fclose(f); }
    f = std::fopen(stats_path, "w");
    if (!f) return 2;
    std::fprintf(f, "{\"status\": %d, \"cycles\": %llu, \"outputs\": %ld, \"inputs\": %ld, \"last_in_cycle\": %llu, "
                 "\"last_out_cycle\": %llu, \"loop_seconds\": %.9f, \"first_in\": [", status,
                 (unsigned long long)cycle, oi, ii, (unsigned long long)last_in_cycle,
                 (unsigned long long)last_out_cycle, loop_s);
    for (long i = 0; i < frames; i++) std::fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)first_in[i]);
    std::fprintf(f, "], \"last_out\": [");
    for (long i = 0; i < frames; i++) std::fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)last_out[i]);
    std::fprintf(f, "]}\n");
    std::fclose(f);
    delete top; delete ctx;
    return status;
}
