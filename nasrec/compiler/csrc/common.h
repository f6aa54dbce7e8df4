#pragma once
// What the fused CPU kernels share (kernels.cpp includes them into one extension; nasrec/compiler/fused.py
// builds it with -march=native): the float vector of the build's instruction set and a horizontal sum.

#if defined(__AVX512F__)
#define CPU_CAPABILITY_AVX512
#elif defined(__AVX2__)
#define CPU_CAPABILITY_AVX2
#endif

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <vector>

namespace nasrec {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t W = Vec::size();

inline float hsum(const Vec& v) {
  return at::vec::vec_reduce_all<float>([](Vec& a, Vec& b) { return a + b; }, v);
}

}  // namespace nasrec
