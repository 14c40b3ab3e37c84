// Stream watchdog of the stream bench: names the internal streams of a hung design.
//
// simbuild verilates the top with a control file making its `*_tvalid` / `*_tready` signals
// public (read only), so every stream of the top (`<name>_tvalid` with a `<name>_tready`
// partner: a layer's input `<layer>_s`, its output `<layer>_m`, a converter's `<layer>_dwc`,
// a DAG edge's FIFO input `<consumer>_e<port>` ...) is found by name in the top's scope, with
// no per-design code. `sample` records each stream's last transfer; when the bench sees no
// progress for its timeout, `report` names the streams that stalled: valid held without
// ready (the consumer side is full: a FIFO too shallow for a skip path shows up here) and
// those that wait for a word (starved), each with the cycle of its last transfer.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "verilated.h"
#include "verilated_syms.h"

struct StreamWatch {
    struct Stream {
        std::string name;
        const CData* valid;
        const CData* ready;
        uint64_t last = 0;  // cycle of its last transfer
        long transfers = 0;
    };
    std::vector<Stream> streams;

    // The streams of the top module's scope (the one scope directly below the model).
    explicit StreamWatch(VerilatedContext* ctx) {
        const VerilatedScopeNameMap* scopes = ctx->scopeNameMap();
        if (!scopes) return;
        for (const auto& s : *scopes) {
            const char* dot = std::strchr(s.first, '.');
            if (!dot || std::strchr(dot + 1, '.') || !s.second->varsp()) continue;
            const VerilatedVarNameMap& vars = *s.second->varsp();
            for (const auto& v : vars) {
                std::string n = v.first;
                const std::string suffix = "_tvalid";
                if (n.size() <= suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
                    continue;
                std::string base = n.substr(0, n.size() - suffix.size());
                auto r = vars.find((base + "_tready").c_str());
                if (r == vars.end() || v.second.vltype() != VLVT_UINT8 || r->second.vltype() != VLVT_UINT8) continue;
                bool seen = false;  // a port may be listed by more than one scope entry
                for (const auto& o : streams) seen = seen || o.name == base;
                if (seen) continue;
                streams.push_back({base, static_cast<const CData*>(v.second.datap()),
                                   static_cast<const CData*>(r->second.datap())});
            }
        }
    }

    // After eval, before the clock edge: a stream with valid && ready transfers this cycle.
    void sample(uint64_t cycle) {
        for (auto& s : streams) {
            if ((*s.valid & 1) && (*s.ready & 1)) {
                s.last = cycle;
                ++s.transfers;
            }
        }
    }

    void restart() {
        for (auto& s : streams) s.last = 0, s.transfers = 0;
    }

    // "stalled streams (valid, not ready): a (last transfer at cycle N), ...; waiting for data: ..."
    std::string report(uint64_t cycle) const {
        if (streams.empty()) return " (no internal streams visible to the watchdog)";
        std::vector<const Stream*> blocked, starved;
        for (const auto& s : streams) {
            if ((*s.valid & 1) && !(*s.ready & 1)) blocked.push_back(&s);
            else if (!(*s.valid & 1)) starved.push_back(&s);
        }
        auto by_age = [](const Stream* a, const Stream* b) { return a->last < b->last; };
        std::sort(blocked.begin(), blocked.end(), by_age);
        std::sort(starved.begin(), starved.end(), by_age);
        auto list = [cycle](const std::vector<const Stream*>& v) {
            std::string out;
            for (size_t i = 0; i < v.size() && i < 8; ++i) {
                out += (i ? ", " : "") + v[i]->name + " (" + std::to_string(v[i]->transfers) + " words" +
                       (v[i]->transfers ? ", last at cycle " + std::to_string(v[i]->last) : "") + ")";
            }
            if (v.size() > 8) out += ", ... " + std::to_string(v.size() - 8) + " more";
            return out.empty() ? std::string("none") : out;
        };
        return "; stalled streams (valid, not ready): " + list(blocked) + "; waiting for data: " + list(starved) +
               " [cycle " + std::to_string(cycle) + "]";
    }
};
