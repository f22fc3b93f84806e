// Verilator test bench for board_top: the UART pins are bridged to a pseudo-terminal so a host
// program (hwkit.driver) talks to the simulated board exactly as to a real serial port.
// Prints "PTY <path>" on stdout once ready; ends when stdin closes (its parent exited) or on SIGTERM.
// Usage: Vtop --cpb N [--settle C]  (N = clock cycles per UART bit, as board_top computes it;
// C = clocks to wait for the power-on reset before driving the line, default 4096). Built by
// hwkit.tools.verilator with --prefix Vtop around the board wrapper (ports clk, btn, uart_rx, uart_tx, led).
#include "Vtop.h"
#include "verilated.h"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

static const long IDLE_CYCLES = 1000000;
static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

int main(int argc, char **argv) {
    long cpb = 16;
    unsigned long long settle = 4096;   // clocks before host bytes go on the line: > 2^POR_BITS
    for (int i = 1; i + 1 < argc; ++i) {
        if (!strcmp(argv[i], "--cpb")) cpb = atol(argv[i + 1]);
        if (!strcmp(argv[i], "--settle")) settle = strtoull(argv[i + 1], nullptr, 10);
    }
    Verilated::commandArgs(argc, argv);
    const bool trace = getenv("HWKIT_SIM_TRACE") != nullptr;   // log every byte to stderr
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) || unlockpt(master)) { perror("pty"); return 2; }
    const char *slave_name = ptsname(master);
    // Hold the slave open ourselves: otherwise the master reads EIO whenever no host is attached.
    int slave = open(slave_name, O_RDWR | O_NOCTTY);
    if (slave < 0) { perror("open slave"); return 2; }
    struct termios tio;
    tcgetattr(slave, &tio);
    cfmakeraw(&tio);
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    printf("PTY %s\n", slave_name);
    fflush(stdout);

    Vtop top;
    top.clk = 0;
    top.btn = 1;        // released (board_top default: active-low button)
    top.uart_rx = 1;    // idle line
    top.eval();

    std::deque<unsigned char> rxq;                 // host bytes waiting to be serialized
    int rx_bit = -1; long rx_cnt = 0; unsigned rx_byte = 0;   // -1: line idle
    int tx_state = 0; long tx_cnt = 0; int tx_bit = 0; unsigned tx_byte = 0;
    long idle = 0;
    unsigned long long cycle = 0;
    unsigned char buf[4096];

    while (!g_stop && !Verilated::gotFinish()) {
        if ((cycle & 255) == 0) {
            // Long silence on both lines: the host is thinking, so stop burning a core on clocks.
            struct pollfd p[2] = {{master, POLLIN, 0}, {0, POLLIN, 0}};
            int wait_ms = idle > IDLE_CYCLES ? 2 : 0;
            if (poll(p, 2, wait_ms) > 0) {
                if (p[1].revents & (POLLIN | POLLHUP)) {
                    ssize_t n = read(0, buf, sizeof buf);
                    if (n <= 0) break;                 // parent closed our stdin
                }
                if (p[0].revents & POLLIN) {
                    ssize_t n = read(master, buf, sizeof buf);
                    for (ssize_t i = 0; i < n; ++i) rxq.push_back(buf[i]);
                    if (trace) for (ssize_t i = 0; i < n; ++i)
                        fprintf(stderr, "%llu host->board %02x\n", cycle, buf[i]);
                    if (n > 0) idle = 0;
                }
            }
        }
        // host -> FPGA: 1 start bit, 8 data bits LSB first, 1 stop bit, back to back
        // Bytes that arrive while the board is still in power-on reset would be lost (as on a real
        // board): hold them until it is up.
        if (rx_bit < 0 && !rxq.empty() && cycle >= settle) {
            rx_byte = rxq.front(); rxq.pop_front();
            rx_bit = 0; rx_cnt = 0;
        }
        if (rx_bit >= 0) {
            top.uart_rx = rx_bit == 0 ? 0 : rx_bit <= 8 ? (rx_byte >> (rx_bit - 1)) & 1 : 1;
            if (++rx_cnt == cpb) { rx_cnt = 0; if (++rx_bit == 10) rx_bit = -1; }
            idle = 0;
        } else {
            top.uart_rx = 1;
        }
        top.clk = 1; top.eval();
        top.clk = 0; top.eval();
        ++cycle;
        // FPGA -> host: find the start bit's falling edge, sample each bit in its middle
        int line = top.uart_tx;
        switch (tx_state) {
        case 0: if (!line) { tx_state = 1; tx_cnt = cpb / 2; } break;
        case 1: if (--tx_cnt == 0) {
                    if (line) tx_state = 0;        // glitch
                    else { tx_state = 2; tx_cnt = cpb; tx_bit = 0; tx_byte = 0; }
                } break;
        case 2: if (--tx_cnt == 0) {
                    tx_byte |= (unsigned)line << tx_bit;
                    tx_cnt = cpb;
                    if (++tx_bit == 8) tx_state = 3;
                } break;
        case 3: if (--tx_cnt == 0) {
                    if (line) {                     // valid stop bit
                        unsigned char c = (unsigned char)tx_byte;
                        if (trace) fprintf(stderr, "%llu board->host %02x\n", cycle, c);
                        while (write(master, &c, 1) != 1 && !g_stop) usleep(100);
                    } else fprintf(stderr, "board_sim: framing error on uart_tx\n");
                    tx_state = 0;
                } break;
        }
        if (tx_state != 0) idle = 0;
        else ++idle;
    }
    top.final();
    close(slave);
    close(master);
    return 0;
}
