// qloom stream test bench: drives a generated top (AXI-Stream in -> AXI-Stream out) from files.
//
// The top is verilated with `--prefix Vtop`, so this file needs no per-design edits. Ports:
// ap_clk, ap_rst_n (active-low, synchronous), s_axis_{tdata,tvalid,tready,tlast},
// m_axis_{tdata,tvalid,tready,tlast}. Words are files of little-endian uint32 chunks,
// ceil(width/32) chunks per word, element 0 in the LSBs of chunk 0 (qloom.packing).
//
// TLAST: `tlast` names a file of one 0/1 per input frame (default: all 1): s_axis_tlast is
// high on the last word of a frame whose flag is 1 (the end of a DMA batch). In the stress
// phase it is also raised at random on other words, which the design must ignore. Every
// output word's m_axis_tlast must be high exactly on the last word of a frame whose flag is
// 1; anything else is a protocol error (counted also as tlast_errors).
//
// Two phases, each after a reset:
//   stress: every input frame once; s_axis_tvalid is withheld and m_axis_tready dropped at
//           random (probability `stall`, seeded); outputs -> out_dir/out_stress.bin.
//   steady: `steady_frames` frames (inputs reused cyclically), no stalls; outputs ->
//           out_dir/out_steady.bin, per-frame transfer cycles -> out_dir/timing.txt.
// After each phase the bench idles `drain` cycles with tready high and counts extra words.
// It also checks the AXI-Stream rule on m_axis: once tvalid is high it stays high, with
// tdata unchanged, until the transfer. Summary -> out_dir/stats.json.
// Progress: with `progress=S` (seconds, default 0 = none) a line `qloom-progress N` goes to
// stderr at most every S seconds, N = output frames complete in both phases so far (the clock
// is read once per output frame, not per cycle).
// Exit codes: 0 ran (mismatches are for the caller to judge), 2 usage or file error,
// 3 no transfer for `timeout` cycles (deadlock or a design that never answers); the message
//   names the top's internal streams that stalled and those waiting for data (stream_watch.h).

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "Vtop.h"
#include "verilated.h"

#include "stream_watch.h"     // StreamWatch: which internal stream stalled
#include "verilator_ports.h"  // chunks_of, put, get

[[noreturn]] static void fail(int code, const std::string& msg) {
    std::fprintf(stderr, "tb_stream: %s\n", msg.c_str());
    std::exit(code);
}

struct Args {
    std::map<std::string, std::string> kv;
    std::string str(const char* k) const {
        auto it = kv.find(k);
        if (it == kv.end()) fail(2, std::string("missing argument ") + k + "=...");
        return it->second;
    }
    long num(const char* k, long dflt = -1) const {
        auto it = kv.find(k);
        if (it == kv.end() && dflt >= 0) return dflt;
        return std::stol(str(k));
    }
    double real(const char* k, double dflt) const {
        auto it = kv.find(k);
        return it == kv.end() ? dflt : std::stod(it->second);
    }
};

struct Progress {  // `qloom-progress N` lines on stderr, at most one per `every` seconds
    double every = 0.0;
    long base = 0;  // frames of the phases before this one
    std::chrono::steady_clock::time_point next = std::chrono::steady_clock::now();
    void frame_done(long frames_in_phase) {
        if (every <= 0.0) return;
        const auto now = std::chrono::steady_clock::now();
        if (now < next) return;
        next = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(every));
        std::fprintf(stderr, "qloom-progress %ld\n", base + frames_in_phase);
        std::fflush(stderr);
    }
};

struct FrameTimes {  // cycles, counted from the end of the phase's reset
    std::vector<uint64_t> in_first, in_last, out_first, out_last;
};

struct Bench {
    Vtop* top;
    long in_wpf, out_wpf;  // words per frame
    int in_chunks, out_chunks;
    uint64_t timeout, drain;
    uint64_t cycle = 0;
    long protocol_errors = 0, extra_words = 0, tlast_errors = 0;
    std::vector<uint8_t> flags;  // per file frame: its last input word carries TLAST
    StreamWatch* watch = nullptr;
    std::mt19937_64 rng;
    std::uniform_real_distribution<double> uni{0.0, 1.0};
    Progress progress;

    // One clock: the caller has set the inputs; settle (clk low), sample, rising edge.
    void edge() {
        top->ap_clk = 1;
        top->eval();
        top->ap_clk = 0;
        ++cycle;
    }

    void reset() {
        top->ap_rst_n = 0;
        top->s_axis_tvalid = 0;
        top->s_axis_tlast = 0;
        top->m_axis_tready = 0;
        for (int i = 0; i < 8; ++i) {
            top->eval();
            edge();
        }
        top->ap_rst_n = 1;
        cycle = 0;
        if (watch) watch->restart();
    }

    // Streams `frames` frames (input frame f is file frame f % nfile) and collects
    // frames * out_wpf output words. Returns false on timeout.
    bool run(const std::vector<uint32_t>& in, long nfile, long frames, double stall,
             std::vector<uint32_t>& out, FrameTimes* t, std::string& why) {
        const uint64_t total_in = (uint64_t)frames * in_wpf, total_out = (uint64_t)frames * out_wpf;
        uint64_t sent = 0, got = 0, last_progress = 0;
        bool offering = false, prev_hold = false, tlast = false, prev_tlast = false;
        std::vector<uint32_t> word(out_chunks), prev(out_chunks);
        out.reserve(total_out * out_chunks);
        if (t) {
            for (auto* v : {&t->in_first, &t->in_last, &t->out_first, &t->out_last}) v->assign(frames, 0);
        }
        while (got < total_out) {
            if (!offering && sent < total_in) {
                offering = stall <= 0.0 || uni(rng) >= stall;
                long f = (long)(sent / in_wpf) % nfile;
                // a frame's last word carries its batch flag; other words a spurious TLAST at random
                tlast = sent % in_wpf == (uint64_t)in_wpf - 1 ? flags[f] != 0 : stall > 0.0 && uni(rng) < 0.1;
            }
            if (offering) {
                long f = (long)(sent / in_wpf) % nfile, w = (long)(sent % in_wpf);
                put(top->s_axis_tdata, &in[((size_t)f * in_wpf + w) * in_chunks]);
            }
            top->s_axis_tvalid = offering;
            top->s_axis_tlast = offering && tlast;
            const bool ready = stall <= 0.0 || uni(rng) >= stall;
            top->m_axis_tready = ready;
            top->eval();
            const bool out_valid = top->m_axis_tvalid;
            const bool out_tlast = top->m_axis_tlast;
            if (out_valid) get(top->m_axis_tdata, word.data());
            if (prev_hold && (!out_valid || word != prev || out_tlast != prev_tlast)) ++protocol_errors;
            if (offering && top->s_axis_tready) {
                long f = (long)(sent / in_wpf);
                if (t && sent % in_wpf == 0) t->in_first[f] = cycle;
                if (t && sent % in_wpf == (uint64_t)in_wpf - 1) t->in_last[f] = cycle;
                ++sent;
                offering = false;
                last_progress = cycle;
            }
            if (out_valid && ready) {
                long f = (long)(got / out_wpf);
                const bool want = got % out_wpf == (uint64_t)out_wpf - 1 && flags[f % nfile] != 0;
                if (out_tlast != want) {
                    ++protocol_errors;
                    ++tlast_errors;
                }
                if (t && got % out_wpf == 0) t->out_first[f] = cycle;
                if (t && got % out_wpf == (uint64_t)out_wpf - 1) t->out_last[f] = cycle;
                out.insert(out.end(), word.begin(), word.end());
                ++got;
                last_progress = cycle;
                if (got % out_wpf == 0) progress.frame_done((long)(got / out_wpf));
            }
            if (watch) watch->sample(cycle);
            prev_hold = out_valid && !ready;
            prev = word;
            prev_tlast = out_tlast;
            edge();
            if (cycle - last_progress > timeout) {
                why = "no stream transfer for " + std::to_string(timeout) + " cycles at cycle " +
                      std::to_string(cycle) + ": sent " + std::to_string(sent) + "/" +
                      std::to_string(total_in) + " input words, received " + std::to_string(got) +
                      "/" + std::to_string(total_out) + " output words" + (watch ? watch->report(cycle) : "");
                return false;
            }
        }
        top->s_axis_tvalid = 0;
        top->s_axis_tlast = 0;
        top->m_axis_tready = 1;
        for (uint64_t i = 0; i < drain; ++i) {  // anything more is an extra word
            top->eval();
            if (top->m_axis_tvalid) ++extra_words;
            edge();
        }
        return true;
    }
};

static std::vector<uint32_t> read_words(const std::string& path, size_t n) {
    std::vector<uint32_t> v(n);
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(2, "cannot open " + path);
    size_t got = std::fread(v.data(), sizeof(uint32_t), n, f);
    std::fclose(f);
    if (got != n) fail(2, path + ": expected " + std::to_string(n) + " uint32 chunks, read " + std::to_string(got));
    return v;
}

static void write_words(const std::string& path, const std::vector<uint32_t>& v) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail(2, "cannot write " + path);
    std::fwrite(v.data(), sizeof(uint32_t), v.size(), f);
    std::fclose(f);
}

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        auto eq = s.find('=');
        if (s.rfind("+verilator", 0) != 0 && eq != std::string::npos) a.kv[s.substr(0, eq)] = s.substr(eq + 1);
    }
    const auto ctx = std::make_unique<VerilatedContext>();
    ctx->commandArgs(argc, argv);  // +verilator+rand+reset+2 +verilator+seed+N
    const auto top = std::make_unique<Vtop>(ctx.get(), "top");

    Bench b{top.get(), a.num("in_words"), a.num("out_words"), (int)a.num("in_chunks"),
            (int)a.num("out_chunks"), (uint64_t)a.num("timeout", 1000000), (uint64_t)a.num("drain", 1000)};
    b.rng.seed((uint64_t)a.num("seed", 0));
    StreamWatch watch(ctx.get());
    b.watch = &watch;
    b.progress.every = a.real("progress", 0.0);
    if (chunks_of(top->s_axis_tdata) != b.in_chunks || chunks_of(top->m_axis_tdata) != b.out_chunks)
        fail(2, "port widths differ from design.json: s_axis_tdata has " +
                    std::to_string(chunks_of(top->s_axis_tdata)) + " chunks (design.json " +
                    std::to_string(b.in_chunks) + "), m_axis_tdata " +
                    std::to_string(chunks_of(top->m_axis_tdata)) + " (design.json " +
                    std::to_string(b.out_chunks) + ")");
    const long frames = a.num("frames"), steady = a.num("steady_frames", 16);
    const std::string out_dir = a.str("out_dir");
    const auto in = read_words(a.str("in"), (size_t)frames * b.in_wpf * b.in_chunks);
    b.flags.assign((size_t)frames, 1);
    if (a.kv.count("tlast")) {
        FILE* tf = std::fopen(a.str("tlast").c_str(), "r");
        if (!tf) fail(2, "cannot open " + a.str("tlast"));
        for (long i = 0; i < frames; ++i) {
            int v = 0;
            if (std::fscanf(tf, "%d", &v) != 1) fail(2, a.str("tlast") + ": expected one 0/1 per frame");
            b.flags[(size_t)i] = (uint8_t)(v != 0);
        }
        std::fclose(tf);
    }

    top->ap_clk = 0;
    std::vector<uint32_t> out_stress, out_steady;
    FrameTimes t;
    std::string why;
    const auto t0 = std::chrono::steady_clock::now();
    b.reset();
    if (!b.run(in, frames, frames, a.real("stall", 0.3), out_stress, nullptr, why)) fail(3, "stress phase: " + why);
    const uint64_t stress_cycles = b.cycle;
    b.progress.base = frames;
    b.reset();
    if (!b.run(in, frames, steady, 0.0, out_steady, &t, why)) fail(3, "steady phase: " + why);
    const uint64_t steady_cycles = b.cycle;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    top->final();

    write_words(out_dir + "/out_stress.bin", out_stress);
    write_words(out_dir + "/out_steady.bin", out_steady);
    FILE* f = std::fopen((out_dir + "/timing.txt").c_str(), "w");
    if (!f) fail(2, "cannot write timing.txt");
    std::fprintf(f, "# in_first in_last out_first out_last (cycles after reset)\n");
    for (long i = 0; i < steady; ++i)
        std::fprintf(f, "%llu %llu %llu %llu\n", (unsigned long long)t.in_first[i], (unsigned long long)t.in_last[i],
                     (unsigned long long)t.out_first[i], (unsigned long long)t.out_last[i]);
    std::fclose(f);
    f = std::fopen((out_dir + "/stats.json").c_str(), "w");
    if (!f) fail(2, "cannot write stats.json");
    std::fprintf(f,
                 "{\"stress_cycles\": %llu, \"steady_cycles\": %llu, \"protocol_errors\": %ld, "
                 "\"tlast_errors\": %ld, \"extra_words\": %ld, \"sim_seconds\": %.6f}\n",
                 (unsigned long long)stress_cycles, (unsigned long long)steady_cycles, b.protocol_errors,
                 b.tlast_errors, b.extra_words, secs);
    std::fclose(f);
    return 0;
}
