#pragma once
// Adagrad's dense update in one pass over each tensor (kernels.cpp binds it; nasrec/compiler/fused.py calls it).
//
// Per element: sum = fma(g, g, sum) (torch's addcmul_ rounds the same way), then
// param = param + (-lr * g) / (sqrt(sum) + eps), each operation rounded as torch's addcdiv_ rounds it. torch's
// multi-tensor (foreach) Adagrad makes four passes over memory with a temporary for the square roots; this
// reads g, sum and param once and writes sum and param once. The one difference: sqrt here is IEEE's
// correctly rounded square root, where torch's CPU sqrt (a vector math library's) is off by one unit in the
// last place for ~0.7 % of floats, so the two updates can differ in that last place.
// Params and sums: float32, at most 2-D, the last axis contiguous and the same strides (a narrowed view of a
// parameter and of its accumulator); grads: float32, the same shape (made contiguous).

#include "common.h"

#include <algorithm>
#include <cmath>

namespace nasrec::adagrad {

// one contiguous run of n floats
inline void run(float* p, float* s, const float* g, int64_t n, float neg_lr, float eps) {
  const Vec vl(neg_lr), ve(eps);
  int64_t i = 0;
  for (; i + W <= n; i += W) {
    const Vec gv = Vec::loadu(g + i);
    const Vec sv = at::vec::fmadd(gv, gv, Vec::loadu(s + i));
    sv.store(s + i);
    (Vec::loadu(p + i) + (vl * gv) / (sv.sqrt() + ve)).store(p + i);
  }
  for (; i < n; ++i) {
    const float si = std::fma(g[i], g[i], s[i]);
    s[i] = si;
    p[i] = p[i] + (neg_lr * g[i]) / (std::sqrt(si) + eps);
  }
}

inline void check(const torch::Tensor& p, const torch::Tensor& s, const torch::Tensor& g) {
  for (const auto* t : {&p, &s, &g})
    TORCH_CHECK(t->scalar_type() == torch::kFloat && !t->is_cuda(), "fused adagrad: float32 CPU tensors only");
  TORCH_CHECK(p.sizes() == s.sizes() && p.sizes() == g.sizes(), "fused adagrad: param, sum and grad shapes differ");
  TORCH_CHECK(p.dim() <= 2 && p.strides() == s.strides() && (p.dim() == 0 || p.stride(-1) == 1),
              "fused adagrad: param and sum must be at most 2-D, alike in strides, the last axis contiguous");
}

void step(std::vector<torch::Tensor> params, std::vector<torch::Tensor> sums, std::vector<torch::Tensor> grads,
          double lr, double eps) {
  TORCH_CHECK(params.size() == sums.size() && params.size() == grads.size(), "fused adagrad: list lengths differ");
  const float neg_lr = static_cast<float>(-lr), e = static_cast<float>(eps);
  for (size_t k = 0; k < params.size(); ++k) {
    check(params[k], sums[k], grads[k]);
    const auto g = grads[k].contiguous();
    const int64_t inner = params[k].dim() == 0 ? 1 : params[k].size(-1);
    const int64_t rows = params[k].dim() == 2 ? params[k].size(0) : 1;
    const int64_t stride = params[k].dim() == 2 ? params[k].stride(0) : 0;
    float* p = params[k].data_ptr<float>();
    float* s = sums[k].data_ptr<float>();
    const float* pg = g.data_ptr<float>();
    const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(inner, 1));
    at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) run(p + r * stride, s + r * stride, pg + r * inner, inner, neg_lr, e);
    });
  }
}

}  // namespace nasrec::adagrad
