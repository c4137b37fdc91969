// StreamPrefetch: software prefetching of a weight stream as a decode kernel reads it (the
// quantized dot kernels, the F32 matrix-vector kernel and the bandwidth probe).
#pragma once

#include <cstddef>
#include <cstdint>

namespace ragkit::embed::ops {

// Weight rows are fetched ahead of use: decoding reads every weight once, and these kernels spend
// ~10 instructions per 32 weights, so the out-of-order window alone keeps too few cache-line
// misses in flight to cover memory latency, and the hardware prefetchers restart at every 4 KB
// page. A kernel asks for the lines 1 KB ahead of what it reads into L1 and 12 KB ahead into L2.
// Measured on an Intel Xeon (Sapphire Rapids class) VM: one thread, a 576 x 1536 matrix from
// memory (ragkit_quant_dot_bench DecodeFromMemory, weights in 2 MB pages), GB/s without -> with the
// L1 prefetch: Q8_0 7.4 -> 10.8, Q5_0 3.7 -> 9.3, Q4_K 4.2 -> 9.2 (512 to 1536 bytes the same,
// 4 KB and more worse, _MM_HINT_T1 or NTA alone worse); `rag bench generate`, 2 threads, decode
// tokens/s with none / L1 / L1 + L2 at 4 KB: Q8_0 63 / 108 / 126-130, Q4_K file 54 / 117 / 138.
// With the prefetches spread over the work (StreamPrefetch) the L2 distance was measured again,
// same hour, alternating: Q8_0 / Q4_K file at 2 KB 122-123 / 143-146, 4 KB 136-142 / 164-179,
// 8 KB 141-155 / 166-187, 12 KB 143-159 / 171-194, 16 KB 146-150 / 174-182; L1 at 768 or
// 1536 bytes (with 12 KB) no better.
constexpr size_t kPrefetchL1Bytes = 1024;
constexpr size_t kPrefetchL2Bytes = 12288;

// Prefetches a stream of weights as a kernel reads it: each consumed() fetches the lines that lie
// the two distances past the bytes read so far that no earlier call fetched, one prefetcht0 and
// one prefetcht1 per 64-byte line. A kernel calls it every few hundred bytes, so the prefetches
// are spread over its work. They used to be issued per weight row, all of a row's lines at its
// start: in `rag bench generate` half of the Q8_0 kernel's samples then sat on those bursts
// (prefetches wait for a free fill buffer, and the instructions behind them wait too), and
// spreading them out decoded Q8_0 at 149-152 instead of 135-141 tokens/s and the Q4_K file at
// 183-191 instead of 163-176 (DecodeFromMemory one thread: Q8_0 10.5 -> 11.6 GB/s, Q5_0 8.8 ->
// 9.9, Q4_K 9.3 -> 10.5, Q6_K 9.5 -> 11.1, all with the L2 distance at 4 KB; one thread alone
// reads ~5% slower at 12 KB, where two threads decode faster, as above).
// The lines before start + kPrefetchL1Bytes are left to the demand loads. Prefetches never
// fault, and the addresses are formed as integers, as they run past the end of the weights. (Also
// the pattern the bandwidth probe reads with, bandwidth.cpp.)
class StreamPrefetch {
 public:
  explicit StreamPrefetch(const void* start)
      : next_((reinterpret_cast<uintptr_t>(start) + kPrefetchL1Bytes) & ~uintptr_t{63}) {}

  // The stream has been read up to (not including) `end`.
  void consumed(const void* end) {
    const uintptr_t until = reinterpret_cast<uintptr_t>(end) + kPrefetchL1Bytes;
    for (; next_ < until; next_ += 64) {
      __builtin_prefetch(reinterpret_cast<const char*>(next_), 0, 3);           // prefetcht0
      __builtin_prefetch(reinterpret_cast<const char*>(next_ + kL2Gap), 0, 2);  // prefetcht1
    }
  }

 private:
  static constexpr uintptr_t kL2Gap = kPrefetchL2Bytes - kPrefetchL1Bytes;
  uintptr_t next_;  // the next line to prefetch into L1
};

}  // namespace ragkit::embed::ops
