// convflow board simulation harness (hw/templates/tb_board.cpp, built by convflow.runtime.board_sim):
// the Verilator model of cf_board_top + the artifact's cf_accel, driven at the UART bit level.
//
// Script mode:  Vcf_board_top SCRIPT OUTFILE CLKS_PER_BIT MAX_CYCLES
//   SCRIPT lines:  send HH HH ...   (bytes, 8N1, back to back)
//                  idle N           (line idle for N bit times)
//                  expect N         (wait until N bytes in total have come back)
//   OUTFILE gets the returned bytes as hex, one per line.  Exit status 2 on time-out.
//
// Serial-port mode:  Vcf_board_top --pty NAMEFILE CLKS_PER_BIT MAX_CYCLES [STATSFILE [free]]
//   Serves the simulated board on a pseudo-terminal (its path is written to NAMEFILE), so host code that opens a
//   serial port (pyserial) talks to the RTL.  Runs until SIGTERM / SIGINT or MAX_CYCLES (0: no limit), then writes
//   STATSFILE (JSON: cycles, bytes each way, the cycles of the first byte in and the last byte out, and the cycles
//   the rx line was busy; SIGUSR1 starts them afresh).  While nothing at all happens (no byte queued or on either line, no frame in the board)
//   the clock stops and the harness sleeps in poll(), so an idle board costs no CPU; "free" keeps the clock
//   running instead, so that the simulated time between frames is the host's real turn-around.
#include "Vcf_board_top.h"
#include "verilated.h"
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <fstream>
#include <poll.h>
#include <sstream>
#include <string>
#include <termios.h>
#include <unistd.h>
#include <vector>

static Vcf_board_top* top;
static long long cycle = 0, max_cycles = 0;
static int cpb = 0;
static std::vector<int> received;
static int pty_fd = -1;
static volatile std::sig_atomic_t stop_requested = 0, reset_requested = 0;
static pid_t parent_pid = 0;                          // the process that started us: we stop when it is gone
// receiver of the board's tx line
static int rx_state = 0, rx_count = 0, rx_bit = 0, rx_shift = 0;
// statistics of serial-port mode
static long long bytes_in = 0, bytes_out = 0, first_in_cycle = -1, last_in_cycle = -1, last_out_cycle = -1;
static long long line_busy_cycles = 0;

static void on_signal(int) { stop_requested = 1; }
static void on_usr1(int) { reset_requested = 1; }        // start the statistics afresh (e.g. after the INFO)

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
                if (pty_fd >= 0) {
                    unsigned char c = rx_shift;
                    while (write(pty_fd, &c, 1) < 0 && errno == EAGAIN && !stop_requested) {
                        struct pollfd pfd = {pty_fd, POLLOUT, 0};  // the host is not reading: wait for it
                        poll(&pfd, 1, 10);
                        if (getppid() != parent_pid) stop_requested = 1;
                    }
                    ++bytes_out; last_out_cycle = cycle;
                }
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

static void write_stats(const char* path) {
    if (!path) return;
    std::ofstream f(path);
    f << "{\"cycles\": " << cycle << ", \"clks_per_bit\": " << cpb << ", \"bytes_in\": " << bytes_in
      << ", \"bytes_out\": " << bytes_out << ", \"first_in_cycle\": " << first_in_cycle
      << ", \"last_in_cycle\": " << last_in_cycle << ", \"last_out_cycle\": " << last_out_cycle
      << ", \"line_busy_cycles\": " << line_busy_cycles << "}\n";
}

static int serve_pty(const char* namefile, const char* statsfile, bool free_running) {
    pty_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (pty_fd < 0 || grantpt(pty_fd) || unlockpt(pty_fd)) { std::perror("tb: pty"); return 1; }
    const char* name = ptsname(pty_fd);
    int keep = open(name, O_RDWR | O_NOCTTY);            // held open: no EIO/HUP while no client is connected
    struct termios t;
    if (keep < 0 || tcgetattr(keep, &t)) { std::perror("tb: pty slave"); return 1; }
    cfmakeraw(&t);
    tcsetattr(keep, TCSANOW, &t);
    fcntl(pty_fd, F_SETFL, fcntl(pty_fd, F_GETFL) | O_NONBLOCK);
    {
        std::string tmp = std::string(namefile) + ".tmp";
        { std::ofstream nf(tmp); nf << name << "\n"; }
        std::rename(tmp.c_str(), namefile);               // the name appears complete or not at all
    }
    std::deque<unsigned char> q;
    unsigned char buf[4096];
    int bit = -1, cnt = 0, frame = 0;
    long long quiet = 0;                                  // cycles with nothing going on
    while (!stop_requested) {
        if ((cycle & 0xFFFFF) == 0 && getppid() != parent_pid) break;
        if (reset_requested) {
            reset_requested = 0;
            bytes_in = bytes_out = line_busy_cycles = 0;
            first_in_cycle = last_in_cycle = last_out_cycle = -1;
        }
        if (bit < 0) {
            // led[1]: a frame in the board; led[4]: inside a frame (its time-out must run)
            bool idle = !free_running && q.empty() && rx_state == 0 && !(top->led & 0x12) && quiet > 20LL * cpb;
            if (q.size() < sizeof buf && (idle || (cycle & 63) == 0)) {
                struct pollfd pfd = {pty_fd, POLLIN, 0};
                if (poll(&pfd, 1, idle ? 20 : 0) > 0) {
                    ssize_t n = read(pty_fd, buf, sizeof buf);
                    for (ssize_t i = 0; i < n; ++i) q.push_back(buf[i]);
                }
                if (idle && q.empty()) {                  // the clock stands still while idle
                    if (getppid() != parent_pid) break;
                    continue;
                }
            }
            if (!q.empty()) {
                frame = 0x200 | (q.front() << 1); q.pop_front(); bit = 0; cnt = cpb;
                ++bytes_in;
                if (first_in_cycle < 0) first_in_cycle = cycle;
            }
        }
        top->uart_rx = bit < 0 ? 1 : (frame >> bit) & 1;
        tick();
        if (bit >= 0) ++line_busy_cycles;
        quiet = (bit < 0 && rx_state == 0 && top->uart_tx) ? quiet + 1 : 0;
        if (bit >= 0 && --cnt == 0) {
            cnt = cpb;
            if (++bit == 10) { bit = -1; last_in_cycle = cycle; }
        }
    }
    write_stats(statsfile);
    return 0;
}

int main(int argc, char** argv) {
    if (argc < 5) { std::fprintf(stderr, "usage: %s SCRIPT OUT CLKS_PER_BIT MAX_CYCLES\n", argv[0]); return 1; }
    Verilated::commandArgs(1, argv);
    top = new Vcf_board_top;
    cpb = std::atoi(argv[3]);
    max_cycles = std::atoll(argv[4]);
    top->rst_btn = 0;
    top->uart_rx = 1;
    hold(1, 64);                                      // past the power-on reset
    if (std::string(argv[1]) == "--pty") {
        parent_pid = getppid();
        std::signal(SIGTERM, on_signal);
        std::signal(SIGINT, on_signal);
        std::signal(SIGUSR1, on_usr1);
        bool free_running = argc > 6 && std::string(argv[6]) == "free";
        int rc = serve_pty(argv[2], argc > 5 ? argv[5] : nullptr, free_running);
        top->final();
        delete top;
        return rc;
    }
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
