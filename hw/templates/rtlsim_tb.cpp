// convflow rtlsim testbench: streams frames through cf_accel with optional random stalls / back-pressure.
#include "Vcf_accel.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

static uint64_t rng_state;
static inline uint32_t rnd() {              // xorshift64*
    rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

int main(int argc, char** argv) {
    if (argc < 13) { std::fprintf(stderr, "usage: in out stats frames in_elems out_elems in_bits out_bits out_signed p_2e32 seed max_cycles\n"); return 2; }
    const char* in_path = argv[1]; const char* out_path = argv[2]; const char* stats_path = argv[3];
    long frames = atol(argv[4]), in_elems = atol(argv[5]), out_elems = atol(argv[6]);
    int in_bits = atoi(argv[7]); int out_bits = atoi(argv[8]); int out_signed = atoi(argv[9]);
    uint32_t p = (uint32_t)strtoul(argv[10], 0, 10);   // stall probability * (2^32 - 1)
    rng_state = strtoull(argv[11], 0, 10) * 0x9E3779B97F4A7C15ULL + 1;
    uint64_t max_cycles = strtoull(argv[12], 0, 10);

    long n_in = frames * in_elems, n_out = frames * out_elems;
    std::vector<int64_t> in(n_in), out(n_out);
    FILE* f = std::fopen(in_path, "rb");
    if (!f || (long)std::fread(in.data(), 8, n_in, f) != n_in) { std::fprintf(stderr, "cannot read %s\n", in_path); return 2; }
    std::fclose(f);
    const uint64_t in_mask = in_bits >= 64 ? ~0ULL : ((1ULL << in_bits) - 1);
    const uint64_t out_mask = out_bits >= 64 ? ~0ULL : ((1ULL << out_bits) - 1);

    VerilatedContext* ctx = new VerilatedContext;
    Vcf_accel* top = new Vcf_accel{ctx};
    std::vector<uint64_t> first_in(frames, 0), last_out(frames, 0);
    top->clk = 0; top->rst = 1; top->s_valid = 0; top->m_ready = 0; top->s_data = 0;
    for (int i = 0; i < 4; i++) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }
    top->rst = 0;
    long ii = 0, oi = 0;
    uint64_t cycle = 0;
    while (oi < n_out && cycle < max_cycles) {
        bool stall_in = p && rnd() < p;
        bool stall_out = p && rnd() < p;
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
        }
        if (in_fire) {
            if (ii % in_elems == 0) first_in[ii / in_elems] = cycle;
            ii++;
        }
        top->clk = 1; top->eval();
        cycle++;
    }
    top->final();
    f = std::fopen(out_path, "wb");
    std::fwrite(out.data(), 8, oi, f);
    std::fclose(f);
    f = std::fopen(stats_path, "w");
    std::fprintf(f, "{\"cycles\": %llu, \"outputs\": %ld, \"inputs\": %ld, \"first_in\": [", (unsigned long long)cycle, oi, ii);
    for (long i = 0; i < frames; i++) std::fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)first_in[i]);
    std::fprintf(f, "], \"last_out\": [");
    for (long i = 0; i < frames; i++) std::fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)last_out[i]);
    std::fprintf(f, "]}\n");
    std::fclose(f);
    delete top; delete ctx;
    return oi == n_out ? 0 : 3;
}
