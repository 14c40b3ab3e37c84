// qloom driver co-simulation: a register model of the Xilinx AXI DMA in direct register
// (simple) mode, PG021, moving bytes between a simulated DDR and the Verilator model of the
// stitched top, one clock at a time. Built as a shared library (qloom_cosim.h is its API).
//
// Modelled, per channel (MM2S at 0x00, S2MM at 0x30):
//   DMACR  RS (bit 0), Reset (bit 2, self-clearing, resets both channels), IOC/Dly/Err IrqEn,
//          IRQThreshold/Delay fields stored.
//   DMASR  Halted (0) = !RS or an error; Idle (1) = 0 before the first transfer and while one
//          runs, 1 when it completed; DMAIntErr (4), DMASlvErr (5), DMADecErr (6);
//          IOC_Irq (12), Err_Irq (14) write-one-to-clear. Errors halt the channel (RS <- 0) and
//          stay until a reset.
//   SA/DA (+MSB), LENGTH (masked to `length_bits`; writing a non-zero value while running
//          starts a transfer, while halted it has no effect).
// MM2S reads `width` bytes per beat from DDR and raises TLAST on the transfer's last beat.
// S2MM is ready only while a transfer is armed; it ends on TLAST and then LENGTH reads the
// bytes received; a packet longer than LENGTH raises DMAIntErr (PG021, simple mode). A beat
// touching an address outside the DDR raises DMADecErr; inside `slverr_base`.. a DMASlvErr.
// No TLAST: the transfer stays busy (as on a board); the driver's bounded wait must see it.
//
// Options (qcs_open): in_bits, out_bits (stream widths, checked against the model's ports),
// ddr_base, ddr_bytes, slverr_base (0 = none), length_bits (8..26), clock_mhz,
// access_cycles (clocks per register access), watchdog_cycles, mask_tlast (0/1: the IP's
// m_axis_tlast never reaches the DMA), dump_dir, frame_bytes + progress (a line
// `qloom-progress N` on stderr at most every `progress` seconds, N = S2MM bytes received /
// frame_bytes; the clock is read once per output frame).

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "Vtop.h"
#include "qloom_cosim.h"
#include "verilated.h"

#include "verilator_ports.h"  // chunks_of, put, get

namespace {

enum : uint32_t {
    CR_RS = 1u << 0, CR_RESET = 1u << 2, CR_MASK = 0xFFFF7001u,  // RS, IrqEn bits, threshold, delay
    SR_HALTED = 1u << 0, SR_IDLE = 1u << 1, SR_INTERR = 1u << 4, SR_SLVERR = 1u << 5,
    SR_DECERR = 1u << 6, SR_IOC = 1u << 12, SR_DLY = 1u << 13, SR_ERRIRQ = 1u << 14,
    SR_ERRORS = SR_INTERR | SR_SLVERR | SR_DECERR,
};
constexpr uint32_t CR_RESET_VALUE = 0x00010000u;  // IRQThreshold = 1
constexpr int RESET_CYCLES = 16;                  // soft reset takes a few clocks to clear

struct Channel {
    const char* name;
    uint32_t cr = CR_RESET_VALUE, sr = SR_HALTED, length = 0;
    uint64_t addr = 0;
    bool busy = false;
    uint64_t pos = 0, total = 0;  // bytes done / requested in the running transfer
    long transfers = 0;

    void reset() {
        cr = CR_RESET_VALUE;
        sr = SR_HALTED;
        length = 0;
        addr = 0;
        busy = false;
        pos = total = 0;
    }
    bool running() const { return (cr & CR_RS) && !(sr & SR_ERRORS); }
    void error(uint32_t bit) {  // PG021: the engine halts gracefully, RS <- 0, Halted <- 1
        sr = (sr | bit | SR_ERRIRQ | SR_HALTED) & ~SR_IDLE;
        cr &= ~CR_RS;
        busy = false;
    }
    void complete(uint32_t done_length) {
        busy = false;
        length = done_length;
        sr = (sr | SR_IDLE | SR_IOC) & ~SR_HALTED;
        ++transfers;
    }
};

struct Board {
    std::unique_ptr<VerilatedContext> ctx;
    std::unique_ptr<Vtop> top;
    std::vector<uint8_t> ddr;
    uint64_t ddr_base = 0x10000000ull, slverr_base = 0;
    int in_bytes = 0, out_bytes = 0, in_chunks = 0, out_chunks = 0, length_bits = 26;
    double clock_mhz = 100.0;
    uint64_t access_cycles = 16, watchdog_cycles = 2000000;
    bool mask_tlast = false;
    std::string dump_dir, err;
    Channel mm2s{"MM2S"}, s2mm{"S2MM"};
    int reset_left = 0;
    uint64_t cycle = 0, last_progress = 0;
    uint64_t xfer_start = 0, dma_cycles = 0;  // MM2S start to S2MM end, summed over transfers
    bool timing = false;
    long in_beats = 0, out_beats = 0, protocol_errors = 0, tlast_seen = 0;
    std::vector<uint8_t> mm2s_log, s2mm_log;  // every byte streamed each way, for the checks
    std::vector<uint32_t> beat, word, prev_word;  // one stream word each way (VlWide layout)
    bool prev_hold = false, closed = false;
    std::chrono::steady_clock::time_point t0;
    uint64_t frame_bytes = 0, frames_seen = 0;  // progress: output frames received so far
    double progress_s = 0.0;
    std::chrono::steady_clock::time_point progress_next;

    void progress() {  // after S2MM bytes arrived: a `qloom-progress N` line now and then
        const uint64_t frames = frame_bytes ? s2mm_log.size() / frame_bytes : 0;
        if (progress_s <= 0.0 || frames == frames_seen) return;
        frames_seen = frames;
        const auto now = std::chrono::steady_clock::now();
        if (now < progress_next) return;
        progress_next = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                  std::chrono::duration<double>(progress_s));
        std::fprintf(stderr, "qloom-progress %llu\n", (unsigned long long)frames);
        std::fflush(stderr);
    }

    bool in_ddr(uint64_t a, uint64_t n) const { return a >= ddr_base && a + n <= ddr_base + ddr.size(); }
    bool slave_error(uint64_t a) const { return slverr_base && a >= slverr_base; }

    void clock() {
        top->ap_clk = 1;
        top->eval();
        top->ap_clk = 0;
        ++cycle;
    }

    // One clock of the two stream engines around the IP.
    void tick() {
        if (reset_left > 0 && --reset_left == 0) {
            mm2s.reset();
            s2mm.reset();
        }
        bool offer = false, last = false;
        uint64_t beat_bytes = 0;
        if (mm2s.busy && mm2s.running() && reset_left == 0) {
            const uint64_t a = mm2s.addr + mm2s.pos;
            beat_bytes = std::min<uint64_t>(in_bytes, mm2s.total - mm2s.pos);
            if (!in_ddr(a, beat_bytes)) {
                mm2s.error(SR_DECERR);
            } else if (slave_error(a)) {
                mm2s.error(SR_SLVERR);
            } else {
                if (beat_bytes < (uint64_t)in_bytes) std::fill(beat.begin(), beat.end(), 0u);  // zero padded
                std::memcpy(beat.data(), &ddr[a - ddr_base], beat_bytes);  // little endian
                offer = true;
                last = mm2s.pos + beat_bytes >= mm2s.total;
            }
        }
        put(top->s_axis_tdata, beat.data());
        top->s_axis_tvalid = offer;
        top->s_axis_tlast = last;
        const bool ready = s2mm.busy && s2mm.running() && reset_left == 0;
        top->m_axis_tready = ready;
        top->eval();
        const bool out_valid = top->m_axis_tvalid;
        if (out_valid) get(top->m_axis_tdata, word.data());
        if (prev_hold && (!out_valid || word != prev_word)) ++protocol_errors;  // AXI-Stream hold rule
        prev_hold = out_valid && !ready;
        prev_word = word;
        const bool in_fire = offer && top->s_axis_tready;
        const bool out_fire = out_valid && ready;
        const bool out_last = top->m_axis_tlast && !mask_tlast;
        if (in_fire) {
            const uint8_t* b = reinterpret_cast<const uint8_t*>(beat.data());
            mm2s_log.insert(mm2s_log.end(), b, b + beat_bytes);
            mm2s.pos += beat_bytes;
            ++in_beats;
            last_progress = cycle;
            if (last) mm2s.complete(mm2s.length);
        }
        if (out_fire) {
            ++out_beats;
            last_progress = cycle;
            if (out_last) ++tlast_seen;
            const uint64_t a = s2mm.addr + s2mm.pos;
            if (s2mm.pos + out_bytes > s2mm.total) {
                s2mm.error(SR_INTERR);  // packet longer than LENGTH
            } else if (!in_ddr(a, out_bytes)) {
                s2mm.error(SR_DECERR);
            } else if (slave_error(a)) {
                s2mm.error(SR_SLVERR);
            } else {
                const uint8_t* b = reinterpret_cast<const uint8_t*>(word.data());
                std::memcpy(&ddr[a - ddr_base], b, out_bytes);
                s2mm_log.insert(s2mm_log.end(), b, b + out_bytes);
                s2mm.pos += out_bytes;
                progress();
                if (out_last) {
                    s2mm.complete((uint32_t)s2mm.pos);
                    if (timing) dma_cycles += cycle - xfer_start;
                    timing = false;
                }
            }
        }
        clock();
    }

    int step(uint64_t n) {
        for (uint64_t i = 0; i < n && err.empty(); ++i) {
            tick();
            if (cycle - last_progress > watchdog_cycles) {
                char msg[512];
                std::snprintf(msg, sizeof msg,
                              "co-simulation watchdog: nothing moved for %llu cycles (cycle %llu): MM2S %s "
                              "DMASR 0x%08x sent %llu/%llu bytes, S2MM %s DMASR 0x%08x received %llu/%llu bytes; "
                              "the driver kept polling without giving up",
                              (unsigned long long)watchdog_cycles, (unsigned long long)cycle,
                              mm2s.busy ? "busy" : "not busy", mm2s.sr, (unsigned long long)mm2s.pos,
                              (unsigned long long)mm2s.total, s2mm.busy ? "busy" : "not busy", s2mm.sr,
                              (unsigned long long)s2mm.pos, (unsigned long long)s2mm.total);
                err = msg;
            }
        }
        return err.empty() ? 0 : 3;
    }

    Channel* channel(uint32_t off) { return off < 0x30 ? &mm2s : &s2mm; }

    uint32_t read(uint32_t off) {
        step(access_cycles);
        Channel* c = channel(off);
        switch (off % 0x30) {
            case 0x00: return c->cr | (reset_left ? CR_RESET : 0);
            case 0x04: return c->sr;
            case 0x18: return (uint32_t)c->addr;
            case 0x1C: return (uint32_t)(c->addr >> 32);
            case 0x28: return c->length;
            default: return 0;  // SG registers and reserved: read as zero in simple mode
        }
    }

    void write(uint32_t off, uint32_t v) {
        step(access_cycles);
        last_progress = cycle;
        Channel* c = channel(off);
        switch (off % 0x30) {
            case 0x00:
                if (v & CR_RESET) {  // soft reset: the whole DMA, both channels
                    reset_left = RESET_CYCLES;
                    return;
                }
                c->cr = v & CR_MASK;
                if (c->cr & CR_RS) {
                    if (!(c->sr & SR_ERRORS)) c->sr &= ~SR_HALTED;
                } else {
                    c->sr = (c->sr | SR_HALTED) & ~SR_IDLE;
                    c->busy = false;
                }
                return;
            case 0x04: c->sr &= ~(v & (SR_IOC | SR_DLY | SR_ERRIRQ)); return;
            case 0x18: c->addr = (c->addr & ~0xFFFFFFFFull) | v; return;
            case 0x1C: c->addr = (c->addr & 0xFFFFFFFFull) | ((uint64_t)v << 32); return;
            case 0x28: {
                const uint32_t len = v & (uint32_t)((1ull << length_bits) - 1);
                if (!c->running() || c->busy || len == 0) return;  // halted: no effect (PG021)
                c->length = len;
                c->total = len;
                c->pos = 0;
                c->busy = true;
                c->sr &= ~SR_IDLE;
                if (c == &mm2s && !timing) {
                    xfer_start = cycle;
                    timing = true;
                }
                return;
            }
            default: return;
        }
    }

    void write_file(const std::string& name, const std::vector<uint8_t>& v) {
        FILE* f = std::fopen((dump_dir + "/" + name).c_str(), "wb");
        if (!f) return;
        std::fwrite(v.data(), 1, v.size(), f);
        std::fclose(f);
    }

    void close() {
        if (closed) return;
        closed = true;
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!dump_dir.empty()) {
            write_file("mm2s.bin", mm2s_log);
            write_file("s2mm.bin", s2mm_log);
            FILE* f = std::fopen((dump_dir + "/stats.json").c_str(), "w");
            if (f) {
                std::string e;
                for (char ch : err) e += (ch == '"' || ch == '\\') ? '\'' : ch;
                std::fprintf(f,
                             "{\"cycles\": %llu, \"dma_cycles\": %llu, \"sim_seconds\": %.6f, \"in_beats\": %ld, \"out_beats\": %ld, "
                             "\"out_tlast\": %ld, \"protocol_errors\": %ld, \"mm2s_bytes\": %zu, \"s2mm_bytes\": %zu, "
                             "\"mm2s_transfers\": %ld, \"s2mm_transfers\": %ld, \"mm2s_dmasr\": %u, \"s2mm_dmasr\": %u, "
                             "\"s2mm_length\": %u, \"mm2s_busy\": %s, \"s2mm_busy\": %s, \"error\": \"%s\"}\n",
                             (unsigned long long)cycle, (unsigned long long)dma_cycles, secs, in_beats, out_beats, tlast_seen, protocol_errors,
                             mm2s_log.size(), s2mm_log.size(), mm2s.transfers, s2mm.transfers, mm2s.sr, s2mm.sr,
                             s2mm.length, mm2s.busy ? "true" : "false", s2mm.busy ? "true" : "false", e.c_str());
                std::fclose(f);
            }
        }
        top->final();
    }
};

std::unique_ptr<Board> board;

bool parse(Board& b, const std::string& opts, std::map<std::string, std::string>& kv) {
    size_t i = 0;
    while (i < opts.size()) {
        size_t j = opts.find(',', i);
        if (j == std::string::npos) j = opts.size();
        const std::string item = opts.substr(i, j - i);
        const size_t eq = item.find('=');
        if (eq == std::string::npos) {
            b.err = "co-simulation option '" + item + "' is not key=value";
            return false;
        }
        kv[item.substr(0, eq)] = item.substr(eq + 1);
        i = j + 1;
    }
    return true;
}

}  // namespace

extern "C" {

int qcs_open(const char* opts) {
    if (board) return 0;
    board = std::make_unique<Board>();
    Board& b = *board;
    std::map<std::string, std::string> kv;
    if (!parse(b, opts ? opts : "", kv)) return 2;
    auto num = [&](const char* k, double dflt) {
        auto it = kv.find(k);
        if (it == kv.end()) return dflt;
        kv.erase(it->first);
        return std::strtod(it->second.c_str(), nullptr);
    };
    const int in_bits = (int)num("in_bits", 0), out_bits = (int)num("out_bits", 0);
    b.ddr_base = (uint64_t)num("ddr_base", (double)b.ddr_base);
    const uint64_t ddr_bytes = (uint64_t)num("ddr_bytes", 64.0 * 1024 * 1024);
    b.slverr_base = (uint64_t)num("slverr_base", 0);
    b.length_bits = (int)num("length_bits", 26);
    b.clock_mhz = num("clock_mhz", 100.0);
    b.access_cycles = (uint64_t)num("access_cycles", 16);
    b.watchdog_cycles = (uint64_t)num("watchdog_cycles", 2e6);
    b.mask_tlast = num("mask_tlast", 0) != 0;
    b.frame_bytes = (uint64_t)num("frame_bytes", 0);
    b.progress_s = num("progress", 0);
    if (kv.count("dump_dir")) {
        b.dump_dir = kv["dump_dir"];
        kv.erase("dump_dir");
    }
    if (!kv.empty()) {
        b.err = "unknown co-simulation option '" + kv.begin()->first + "'";
        return 2;
    }
    b.ctx = std::make_unique<VerilatedContext>();
    const char* argv[] = {"qloom_cosim", "+verilator+rand+reset+2", "+verilator+seed+1"};
    b.ctx->commandArgs(3, argv);  // randomized initial state: what reset does not clear shows
    b.top = std::make_unique<Vtop>(b.ctx.get(), "top");
    b.in_chunks = chunks_of(b.top->s_axis_tdata);
    b.out_chunks = chunks_of(b.top->m_axis_tdata);
    b.in_bytes = in_bits / 8;
    b.out_bytes = out_bits / 8;
    if (in_bits < 8 || out_bits < 8 || (in_bits + 31) / 32 != b.in_chunks || (out_bits + 31) / 32 != b.out_chunks) {
        b.err = "stream widths in_bits=" + std::to_string(in_bits) + " out_bits=" + std::to_string(out_bits) +
                " do not match the model's ports (" + std::to_string(b.in_chunks) + " and " +
                std::to_string(b.out_chunks) + " 32-bit chunks)";
        return 2;
    }
    if (b.length_bits < 8 || b.length_bits > 26) {
        b.err = "length_bits must be 8..26 (PG021), got " + std::to_string(b.length_bits);
        return 2;
    }
    b.ddr.assign(ddr_bytes, 0);
    b.beat.assign(b.in_chunks, 0);
    b.word.assign(b.out_chunks, 0);
    b.prev_word.assign(b.out_chunks, 0);
    b.t0 = std::chrono::steady_clock::now();
    b.top->ap_clk = 0;
    b.top->ap_rst_n = 0;  // the IP's reset (proc_sys_reset on the board), 8 clocks
    b.top->s_axis_tvalid = 0;
    b.top->m_axis_tready = 0;
    for (int i = 0; i < 8; ++i) {
        b.top->eval();
        b.clock();
    }
    b.top->ap_rst_n = 1;
    return 0;
}

void qcs_close(void) {
    if (board) board->close();
}

uint32_t qcs_reg_read(uint32_t offset) { return board ? board->read(offset) : 0; }
void qcs_reg_write(uint32_t offset, uint32_t value) {
    if (board) board->write(offset, value);
}
uint8_t* qcs_ddr(void) { return board ? board->ddr.data() : nullptr; }
uint64_t qcs_ddr_base(void) { return board ? board->ddr_base : 0; }
uint64_t qcs_ddr_bytes(void) { return board ? board->ddr.size() : 0; }
int qcs_step(uint64_t cycles) { return board ? board->step(cycles) : 2; }
uint64_t qcs_cycles(void) { return board ? board->cycle : 0; }
double qcs_clock_mhz(void) { return board ? board->clock_mhz : 0.0; }
const char* qcs_error(void) { return board ? board->err.c_str() : "co-simulation not open"; }

}  // extern "C"
