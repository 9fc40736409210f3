// Verilator testbench for cf_board_top: plays a script of UART bytes into the
// board's rx pin at the bit level and records the bytes the board sends back.
// Usage: Vcf_board_top SCRIPT OUTFILE CLKS_PER_BIT MAX_CYCLES
// SCRIPT lines:  send HH HH ...   (bytes, 8N1, back to back)
//                idle N           (line idle for N bit times)
//                expect N         (wait until N bytes in total have come back)
// OUTFILE gets the returned bytes as hex, one per line.  Exit status 2 on time-out.
// Usage: Vcf_board_top --pty NAMEFILE CLKS_PER_BIT MAX_CYCLES
//   Serves the simulated board on a pseudo-terminal (its name is written to NAMEFILE), so host code that opens a
//   serial port (pyserial) talks to the RTL.  Runs until killed or MAX_CYCLES (0: no limit).
#include "Vcf_board_top.h"
#include "verilated.h"
#include <cerrno>
#include <cstdio>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

static Vcf_board_top* top;
static long long cycle = 0, max_cycles = 0;
static int cpb = 0;
static std::vector<int> received;
static int pty_fd = -1;
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
                if (pty_fd >= 0) { unsigned char c = rx_shift; while (write(pty_fd, &c, 1) < 0 && errno == EAGAIN) {} }
            } break;
    }
    if (max_cycles > 0 && cycle > max_cycles) {
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

static int serve_pty(const char* namefile) {
    pty_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (pty_fd < 0 || grantpt(pty_fd) || unlockpt(pty_fd)) { std::perror("tb: pty"); return 1; }
    const char* name = ptsname(pty_fd);
    int keep = open(name, O_RDWR | O_NOCTTY);            // held open: no EIO/HUP while no client is connected
    struct termios t;
    if (keep < 0 || tcgetattr(keep, &t)) { std::perror("tb: pty slave"); return 1; }
    cfmakeraw(&t);
    tcsetattr(keep, TCSANOW, &t);
    fcntl(pty_fd, F_SETFL, fcntl(pty_fd, F_GETFL) | O_NONBLOCK);
    { std::ofstream nf(namefile); nf << name << "\n"; }
    std::deque<unsigned char> q;
    int bit = -1, cnt = 0, frame = 0;
    long long quiet = 0;                                  // cycles with nothing going on
    for (;;) {
        if (bit < 0) {
            bool idle = q.empty() && rx_state == 0 && !(top->led & 2) && quiet > 20LL * cpb;
            if (q.empty() && (idle || cycle % cpb == 0)) {
                struct pollfd pfd = {pty_fd, POLLIN, 0};
                if (poll(&pfd, 1, idle ? 5 : 0) > 0) {
                    unsigned char buf[256];
                    ssize_t n = read(pty_fd, buf, sizeof buf);
                    for (ssize_t i = 0; i < n; ++i) q.push_back(buf[i]);
                }
            }
            if (!q.empty()) { frame = 0x200 | (q.front() << 1); q.pop_front(); bit = 0; cnt = cpb; }
        }
        top->uart_rx = bit < 0 ? 1 : (frame >> bit) & 1;
        tick();
        quiet = (bit < 0 && rx_state == 0 && top->uart_tx) ? quiet + 1 : 0;
        if (bit >= 0 && --cnt == 0) { cnt = cpb; if (++bit == 10) bit = -1; }
    }
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
    if (std::string(argv[1]) == "--pty") return serve_pty(argv[2]);
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
