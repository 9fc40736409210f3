// Verilator testbench for cf_board_top: plays a script of UART bytes into the
// board's rx pin at the bit level and records the bytes the board sends back.
// Usage: Vcf_board_top SCRIPT OUTFILE CLKS_PER_BIT MAX_CYCLES
// SCRIPT lines:  send HH HH ...   (bytes, 8N1, back to back)
//                idle N           (line idle for N bit times)
//                expect N         (wait until N bytes in total have come back)
// OUTFILE gets the returned bytes as hex, one per line.  Exit status 2 on time-out.
#include "Vcf_board_top.h"
#include "verilated.h"
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static Vcf_board_top* top;
static long long cycle = 0, max_cycles = 0;
static int cpb = 0;
static std::vector<int> received;
// receiver of the board's tx line
static int rx_state = 0, rx_count = 0, rx_bit = 0, rx_shift = 0;

static void tick() {
    top->clk = 0; top->eval();
    top->clk = 1; top->eval();
    ++cycle;
    int line = top->uart_tx;
    switch (rx_state) {
    case 0: if (!line) { rx_state = 1; rx_count = cpb / 2; } break;          // start edge
    case 1: if (--rx_count == 0) {
                if (line) rx_state = 0;                                        // glitch
                else { rx_state = 2; rx_count = cpb; rx_bit = 0; rx_shift = 0; }
            } break;
    case 2: if (--rx_count == 0) {
                rx_shift |= line << rx_bit; rx_count = cpb;
                if (++rx_bit == 8) rx_state = 3;
            } break;
    case 3: if (--rx_count == 0) {
                if (!line) { std::fprintf(stderr, "tb: framing error on tx at cycle %lld\n", cycle); std::exit(3); }
                received.push_back(rx_shift); rx_state = 0;
            } break;
    }
    if (cycle > max_cycles) {
        std::fprintf(stderr, "tb: time-out after %lld cycles, %zu bytes received\n", cycle, received.size());
        std::exit(2);
    }
}

static void hold(int level, long long cycles) {
    top->uart_rx = level;
    for (long long i = 0; i < cycles; ++i) tick();
}

static void send_byte(int b) {
    hold(0, cpb);
    for (int i = 0; i < 8; ++i) hold((b >> i) & 1, cpb);
    hold(1, cpb);
}

int main(int argc, char** argv) {
    if (argc != 5) { std::fprintf(stderr, "usage: %s SCRIPT OUT CLKS_PER_BIT MAX_CYCLES\n", argv[0]); return 1; }
    Verilated::commandArgs(1, argv);
    top = new Vcf_board_top;
    cpb = std::atoi(argv[3]);
    max_cycles = std::atoll(argv[4]);
    top->rst_btn = 0;
    top->uart_rx = 1;
    hold(1, 64);                                      // past the power-on reset
    std::ifstream script(argv[1]);
    std::string ln;
    while (std::getline(script, ln)) {
        std::istringstream ss(ln);
        std::string cmd; ss >> cmd;
        if (cmd == "send") { std::string h; while (ss >> h) send_byte(std::stoi(h, nullptr, 16)); }
        else if (cmd == "idle") { long long n; ss >> n; hold(1, n * cpb); }
        else if (cmd == "expect") { size_t n; ss >> n; while (received.size() < n) tick(); }
    }
    hold(1, 40LL * cpb);                              // let a last byte finish
    std::ofstream out(argv[2]);
    for (int b : received) out << std::hex << b << "\n";
    top->final();
    delete top;
    return 0;
}
