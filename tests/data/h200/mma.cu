// Replays operands through single NVIDIA tensor-core instructions on the GPU and records D.
//
// One warp (mma.sync) or one warpgroup (wgmma) per 16x8 / 64x8 tile; operands arrive as one
// uint32 per element holding the element's bit pattern (A row-major [tile][m][k], B transposed
// [tile][8][k], C and D [tile][m][8]). Fragment layouts are those of the PTX ISA, "Matrix
// fragments for mma.m16n8k*" and "Register fragments and shared memory matrix layouts" (wgmma).
// Built with: nvcc -cubin -arch=sm_90a mma.cu
#include <cstdint>

// Pack register r of an A fragment (m16 x K slice of one warp) whose elements are EB bits wide.
template <int EB, int K>
__device__ uint32_t pack_a(const uint32_t* A, int r, int lane) {
  const int e = 32 / EB, g = lane >> 2, t = lane & 3;
  const int row = g + 8 * (r & 1), col = t * e + (K / 2) * (r >> 1);
  uint32_t v = 0;
  for (int i = 0; i < e; ++i) {
    uint32_t x = A[row * K + col + i];
    v |= (EB == 32 ? x : (x & ((1u << EB) - 1u))) << (i * EB);
  }
  return v;
}

// Pack register r of a B fragment (K x n8, read from B transposed [8][K]).
template <int EB, int K>
__device__ uint32_t pack_b(const uint32_t* BT, int r, int lane) {
  const int e = 32 / EB, g = lane >> 2, t = lane & 3;
  const int k = t * e + (K / 2) * r;
  uint32_t v = 0;
  for (int i = 0; i < e; ++i) {
    uint32_t x = BT[g * K + k + i];
    v |= (EB == 32 ? x : (x & ((1u << EB) - 1u))) << (i * EB);
  }
  return v;
}

// C/D of a 16x8 warp slice: FP32 (4 registers, one element each) or FP16 (2 registers, 2 each).
__device__ void load_c(const uint32_t* C, uint32_t* c, bool f16, int lane) {
  const int g = lane >> 2, t = lane & 3;
  if (f16) {
    for (int r = 0; r < 2; ++r)
      c[r] = (C[(g + 8 * r) * 8 + 2 * t] & 0xFFFFu) | (C[(g + 8 * r) * 8 + 2 * t + 1] << 16);
  } else {
    for (int r = 0; r < 4; ++r) c[r] = C[(g + 8 * (r >> 1)) * 8 + 2 * t + (r & 1)];
  }
}

__device__ void store_d(uint32_t* D, const uint32_t* d, bool f16, int lane) {
  const int g = lane >> 2, t = lane & 3;
  if (f16) {
    for (int r = 0; r < 2; ++r) {
      D[(g + 8 * r) * 8 + 2 * t] = d[r] & 0xFFFFu;
      D[(g + 8 * r) * 8 + 2 * t + 1] = d[r] >> 16;
    }
  } else {
    for (int r = 0; r < 4; ++r) D[(g + 8 * (r >> 1)) * 8 + 2 * t + (r & 1)] = d[r];
  }
}

// ---------------------------------------------------------------- mma.sync, one warp per tile
#define MMA_KERNEL(NAME, EB, K, NA, NB, F16, ASM)                                              \
  extern "C" __global__ void NAME(const uint32_t* A, const uint32_t* BT, const uint32_t* C,   \
                                  uint32_t* D) {                                               \
    const int lane = threadIdx.x, tile = blockIdx.x;                                           \
    const uint32_t* a_ = A + (size_t)tile * 16 * K;                                            \
    const uint32_t* b_ = BT + (size_t)tile * 8 * K;                                            \
    uint32_t a[4] = {0, 0, 0, 0}, b[2] = {0, 0}, d[4] = {0, 0, 0, 0};                          \
    for (int r = 0; r < NA; ++r) a[r] = pack_a<EB, K>(a_, r, lane);                           \
    for (int r = 0; r < NB; ++r) b[r] = pack_b<EB, K>(b_, r, lane);                           \
    load_c(C + (size_t)tile * 128, d, F16, lane);                                              \
    ASM;                                                                                       \
    store_d(D + (size_t)tile * 128, d, F16, lane);                                             \
  }

#define ASM_F32_A4B2(T)                                                                        \
  asm volatile("mma.sync.aligned." T " {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};" \
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])                                \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
#define ASM_F32_A2B1(T)                                                                        \
  asm volatile("mma.sync.aligned." T " {%0,%1,%2,%3}, {%4,%5}, {%6}, {%0,%1,%2,%3};"           \
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])                                \
               : "r"(a[0]), "r"(a[1]), "r"(b[0]))
#define ASM_F16_A4B2(T)                                                                        \
  asm volatile("mma.sync.aligned." T " {%0,%1}, {%2,%3,%4,%5}, {%6,%7}, {%0,%1};"              \
               : "+r"(d[0]), "+r"(d[1])                                                        \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]))
#define ASM_F16_A2B1(T)                                                                        \
  asm volatile("mma.sync.aligned." T " {%0,%1}, {%2,%3}, {%4}, {%0,%1};"                       \
               : "+r"(d[0]), "+r"(d[1])                                                        \
               : "r"(a[0]), "r"(a[1]), "r"(b[0]))

MMA_KERNEL(mma_m16n8k16_f32_f16, 16, 16, 4, 2, false,
           ASM_F32_A4B2("m16n8k16.row.col.f32.f16.f16.f32"))
MMA_KERNEL(mma_m16n8k8_f32_f16, 16, 8, 2, 1, false,
           ASM_F32_A2B1("m16n8k8.row.col.f32.f16.f16.f32"))
MMA_KERNEL(mma_m16n8k16_f16_f16, 16, 16, 4, 2, true,
           ASM_F16_A4B2("m16n8k16.row.col.f16.f16.f16.f16"))
MMA_KERNEL(mma_m16n8k8_f16_f16, 16, 8, 2, 1, true,
           ASM_F16_A2B1("m16n8k8.row.col.f16.f16.f16.f16"))
MMA_KERNEL(mma_m16n8k16_f32_bf16, 16, 16, 4, 2, false,
           ASM_F32_A4B2("m16n8k16.row.col.f32.bf16.bf16.f32"))
MMA_KERNEL(mma_m16n8k8_f32_bf16, 16, 8, 2, 1, false,
           ASM_F32_A2B1("m16n8k8.row.col.f32.bf16.bf16.f32"))
MMA_KERNEL(mma_m16n8k8_f32_tf32, 32, 8, 4, 2, false,
           ASM_F32_A4B2("m16n8k8.row.col.f32.tf32.tf32.f32"))
MMA_KERNEL(mma_m16n8k4_f32_tf32, 32, 4, 2, 1, false,
           ASM_F32_A2B1("m16n8k4.row.col.f32.tf32.tf32.f32"))
MMA_KERNEL(mma_m16n8k32_f32_e4m3, 8, 32, 4, 2, false,
           ASM_F32_A4B2("m16n8k32.row.col.f32.e4m3.e4m3.f32"))
MMA_KERNEL(mma_m16n8k32_f32_e5m2, 8, 32, 4, 2, false,
           ASM_F32_A4B2("m16n8k32.row.col.f32.e5m2.e5m2.f32"))
MMA_KERNEL(mma_m16n8k32_f32_e4m3xe5m2, 8, 32, 4, 2, false,
           ASM_F32_A4B2("m16n8k32.row.col.f32.e4m3.e5m2.f32"))

// ------------------------------------------------------- wgmma, one warpgroup (4 warps) per tile
// A from registers (warp w holds rows 16w..16w+15 in the mma.m16n8kK layout); B (K x 8, K-major)
// in shared memory without swizzling: two 8-row x 16-byte core matrices, 128 bytes apart.
__device__ uint64_t b_descriptor(const void* smem) {
  const uint64_t addr = static_cast<uint64_t>(__cvta_generic_to_shared(smem));
  const uint64_t lbo = 128, sbo = 128;  // one core matrix along N: only the K step matters
  return ((addr & 0x3FFFF) >> 4) | ((lbo >> 4) << 16) | ((sbo >> 4) << 32);
}

#define WGMMA_KERNEL(NAME, EB, K, F16, ASM)                                                    \
  extern "C" __global__ void NAME(const uint32_t* A, const uint32_t* BT, const uint32_t* C,   \
                                  uint32_t* D) {                                               \
    __shared__ alignas(128) uint8_t sb[256];                                                  \
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31, tile = blockIdx.x;         \
    const uint32_t* b_ = BT + (size_t)tile * 8 * K;                                            \
    constexpr int EBYTES = EB / 8;                                                             \
    for (int i = tid; i < 8 * K; i += 128) { /* element (n, k) -> core matrix k*EB/128 */     \
      const int n = i / K, k = i % K, byte = k * EBYTES;                                      \
      uint8_t* p = sb + (byte / 16) * 128 + n * 16 + (byte % 16);                              \
      const uint32_t x = b_[i];                                                                \
      for (int j = 0; j < EBYTES; ++j) p[j] = (x >> (8 * j)) & 0xFFu;                          \
    }                                                                                          \
    asm volatile("fence.proxy.async.shared::cta;" ::: "memory");                               \
    __syncthreads();                                                                           \
    const uint32_t* a_ = A + ((size_t)tile * 64 + warp * 16) * K;                              \
    uint32_t a[4] = {0, 0, 0, 0}, d[4] = {0, 0, 0, 0};                                         \
    for (int r = 0; r < 4; ++r) a[r] = pack_a<EB, K>(a_, r, lane);                            \
    uint32_t* d_out = D + ((size_t)tile * 64 + warp * 16) * 8;                                 \
    load_c(C + ((size_t)tile * 64 + warp * 16) * 8, d, F16, lane);                             \
    const uint64_t desc = b_descriptor(sb);                                                    \
    asm volatile("wgmma.fence.sync.aligned;" ::: "memory");                                    \
    ASM;                                                                                       \
    asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");                             \
    asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");                             \
    store_d(d_out, d, F16, lane);                                                              \
  }

// TRANS: ", 0" for 16-bit operands (imm-trans-b), "" for tf32 and FP8 (no transpose operand).
#define WG_F32(T, TRANS)                                                                       \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\nwgmma.mma_async.sync.aligned." T      \
               " {%0,%1,%2,%3}, {%4,%5,%6,%7}, %8, p, 1, 1" TRANS ";\n}"                        \
               : "+r"(d[0]), "+r"(d[1]), "+r"(d[2]), "+r"(d[3])                                \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc)                         \
               : "memory")
#define WG_F16(T, TRANS)                                                                       \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, 1, 0;\nwgmma.mma_async.sync.aligned." T      \
               " {%0,%1}, {%2,%3,%4,%5}, %6, p, 1, 1" TRANS ";\n}"                              \
               : "+r"(d[0]), "+r"(d[1])                                                        \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(desc)                         \
               : "memory")

WGMMA_KERNEL(wgmma_m64n8k16_f32_f16, 16, 16, false, WG_F32("m64n8k16.f32.f16.f16", ", 0"))
WGMMA_KERNEL(wgmma_m64n8k16_f16_f16, 16, 16, true, WG_F16("m64n8k16.f16.f16.f16", ", 0"))
WGMMA_KERNEL(wgmma_m64n8k16_f32_bf16, 16, 16, false, WG_F32("m64n8k16.f32.bf16.bf16", ", 0"))
WGMMA_KERNEL(wgmma_m64n8k8_f32_tf32, 32, 8, false, WG_F32("m64n8k8.f32.tf32.tf32", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f32_e4m3, 8, 32, false, WG_F32("m64n8k32.f32.e4m3.e4m3", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f32_e5m2, 8, 32, false, WG_F32("m64n8k32.f32.e5m2.e5m2", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f32_e4m3xe5m2, 8, 32, false, WG_F32("m64n8k32.f32.e4m3.e5m2", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f32_e5m2xe4m3, 8, 32, false, WG_F32("m64n8k32.f32.e5m2.e4m3", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f16_e4m3, 8, 32, true, WG_F16("m64n8k32.f16.e4m3.e4m3", ""))
WGMMA_KERNEL(wgmma_m64n8k32_f16_e5m2, 8, 32, true, WG_F16("m64n8k32.f16.e5m2.e5m2", ""))
