// Port access shared by the stream bench (tb_stream.cpp) and the DMA co-simulation
// (dma_cosim.cpp): Verilator maps a port to CData/SData/IData (<= 32 bits), QData (<= 64) or
// VlWide<N> (N uint32 words); one overload each way, chosen at compile time. Words are
// little-endian uint32 chunks, element 0 in the LSBs of chunk 0 (qloom.packing).
#pragma once

#include <cstddef>
#include <cstdint>

#include "verilated.h"

template <class T> static int chunks_of(const T&) { return sizeof(T) > 4 ? 2 : 1; }
template <std::size_t N> static int chunks_of(const VlWide<N>&) { return (int)N; }

template <class T> static void put(T& port, const uint32_t* w) {
    uint64_t v = w[0];
    if (sizeof(T) > 4) v |= (uint64_t)w[1] << 32;
    port = (T)v;
}
template <std::size_t N> static void put(VlWide<N>& port, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) port[i] = w[i];
}
template <class T> static void get(const T& port, uint32_t* w) {
    uint64_t v = port;
    w[0] = (uint32_t)v;
    if (sizeof(T) > 4) w[1] = (uint32_t)(v >> 32);
}
template <std::size_t N> static void get(const VlWide<N>& port, uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) w[i] = port[i];
}
