#pragma once
// Fused multi-head self-attention for narrow heads on CPU (kernels.cpp binds it; nasrec/compiler/fused.py calls it).
//
// qkv [B, S, 3, H, d] (the attention operator's projection, as it comes out of its Linear) -> out [B, S, H, d]
// and the rows' log-sum-exp [B, H, S]; the backward takes grad [B, S, H, d] and returns d(qkv) in qkv's layout.
// Heads of width d = 2 make matrix-product kernels the wrong tool, and so are loops vectorised over the keys
// of one query row: with S = 26-64 keys a row is 2-4 vectors, and its horizontal reductions (max, sum, the
// products with V) cost more than its arithmetic. Here the vector lanes hold W query rows of one (batch, head)
// and the loops run over the keys with broadcast scalars: no horizontal reduction per score. The forward takes
// the max in a first pass over the keys, then the exponentials, their sum and the products with V in a
// second. The backward recomputes the probabilities from the saved log-sum-exp in one pass; the gradients of
// K and V (sums over the query rows) are kept per key and lane and summed across the lanes once per key at the
// end. Per (batch, head) q, k, v, grad are first packed transposed, [d][Sp] with Sp = S rounded up to W,
// zero-padded; lanes of padded rows compute values nobody reads (their q and grad are 0, so they add nothing
// to the gradients of K and V). Heads up to MAX_D wide; d is a template parameter so the d accumulators stay
// in registers.

#include "common.h"

#include <limits>

namespace nasrec::attention {

constexpr int64_t MAX_D = 8;
constexpr float INF = std::numeric_limits<float>::infinity();

// one head's rows of part `part` (0: q, 1: k, 2: v) of qkv, transposed and zero-padded into t [d][Sp]
inline void pack(const float* base, int64_t S, int64_t H, int64_t d, int64_t Sp, int64_t h, int part, float* t) {
  const int64_t row = 3 * H * d;  // stride of the sequence axis in qkv
  std::fill(t, t + d * Sp, 0.f);
  for (int64_t i = 0; i < S; ++i) {
    const float* r = base + i * row + part * H * d + h * d;
    for (int64_t c = 0; c < d; ++c) t[c * Sp + i] = r[c];
  }
}

// q, k and v of one head, each packed as above
inline void pack_qkv(const float* base, int64_t S, int64_t H, int64_t d, int64_t Sp, int64_t h, float* qT, float* kT,
                     float* vT) {
  pack(base, S, H, d, Sp, h, 0, qT);
  pack(base, S, H, d, Sp, h, 1, kT);
  pack(base, S, H, d, Sp, h, 2, vT);
}

// one head's rows of a [B, S, H, d] tensor (at b), transposed and zero-padded into t [d][Sp]
inline void pack_bshd(const float* base, int64_t S, int64_t H, int64_t d, int64_t Sp, int64_t h, float* t) {
  std::fill(t, t + d * Sp, 0.f);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t c = 0; c < d; ++c) t[c * Sp + i] = base[(i * H + h) * d + c];
}

// forward of one (batch, head): oT [D][Sp] and lse [Sp] from qT, kT, vT [D][Sp]; s: scratch [S * W]
template <int D>
void forward_head(const float* qT, const float* kT, const float* vT, int64_t S, int64_t Sp, float scale,
                  float* oT, float* lse, float* s) {
  for (int64_t i0 = 0; i0 < Sp; i0 += W) {
    Vec q[D];
    for (int c = 0; c < D; ++c) q[c] = Vec::loadu(qT + c * Sp + i0) * Vec(scale);
    Vec m(-INF);
    for (int64_t j = 0; j < S; ++j) {
      Vec x = q[0] * Vec(kT[j]);
      for (int c = 1; c < D; ++c) x = at::vec::fmadd(q[c], Vec(kT[c * Sp + j]), x);
      x.store(s + j * W);
      m = at::vec::maximum(m, x);
    }
    Vec sum(0.f), acc[D];
    for (int c = 0; c < D; ++c) acc[c] = Vec(0.f);
    for (int64_t j = 0; j < S; ++j) {
      const Vec p = (Vec::loadu(s + j * W) - m).exp_u20();
      sum = sum + p;
      for (int c = 0; c < D; ++c) acc[c] = at::vec::fmadd(p, Vec(vT[c * Sp + j]), acc[c]);
    }
    for (int c = 0; c < D; ++c) (acc[c] / sum).store(oT + c * Sp + i0);
    (m + sum.log()).store(lse + i0);
  }
}

// backward of one (batch, head): dqT, dkT, dvT [D][Sp] from qT, kT, vT, gT [D][Sp], lse and delta [Sp], in
// one pass with query rows in the lanes; per key j, the lanes' shares of dk_j and dv_j (sums over the query
// rows) accumulate in acc [S][2D][W] and are summed across the lanes once at the end
template <int D>
void backward_head(const float* qT, const float* kT, const float* vT, const float* gT, const float* lse,
                   const float* delta, int64_t S, int64_t Sp, float scale, float* dqT, float* dkT, float* dvT,
                   float* acc) {
  std::fill(acc, acc + S * 2 * D * W, 0.f);
  for (int64_t i0 = 0; i0 < Sp; i0 += W) {
    Vec q[D], g[D], dq[D];
    for (int c = 0; c < D; ++c) {
      q[c] = Vec::loadu(qT + c * Sp + i0) * Vec(scale);
      g[c] = Vec::loadu(gT + c * Sp + i0);
      dq[c] = Vec(0.f);
    }
    const Vec l = Vec::loadu(lse + i0), dl = Vec::loadu(delta + i0);
    for (int64_t j = 0; j < S; ++j) {
      Vec x = q[0] * Vec(kT[j]), dp = g[0] * Vec(vT[j]);
      for (int c = 1; c < D; ++c) {
        x = at::vec::fmadd(q[c], Vec(kT[c * Sp + j]), x);
        dp = at::vec::fmadd(g[c], Vec(vT[c * Sp + j]), dp);
      }
      const Vec p = (x - l).exp_u20();
      const Vec ds = p * (dp - dl);
      float* a = acc + j * 2 * D * W;
      for (int c = 0; c < D; ++c) {
        dq[c] = at::vec::fmadd(ds, Vec(kT[c * Sp + j]), dq[c]);
        at::vec::fmadd(ds, q[c], Vec::loadu(a + c * W)).store(a + c * W);  // q is scaled: dk needs no scale
        at::vec::fmadd(p, g[c], Vec::loadu(a + (D + c) * W)).store(a + (D + c) * W);
      }
    }
    for (int c = 0; c < D; ++c) (dq[c] * Vec(scale)).store(dqT + c * Sp + i0);
  }
  for (int64_t j = 0; j < S; ++j) {
    const float* a = acc + j * 2 * D * W;
    for (int c = 0; c < D; ++c) {
      dkT[c * Sp + j] = hsum(Vec::loadu(a + c * W));
      dvT[c * Sp + j] = hsum(Vec::loadu(a + (D + c) * W));
    }
  }
}

template <typename F>
void dispatch_d(int64_t d, F&& f) {
  switch (d) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    case 8: return f(std::integral_constant<int, 8>{});
  }
  TORCH_CHECK(false, "fused attention: heads of width ", d, " (at most ", MAX_D, ")");
}

std::vector<torch::Tensor> forward(torch::Tensor qkv, double scale_) {
  TORCH_CHECK(qkv.dim() == 5 && qkv.size(2) == 3 && qkv.scalar_type() == torch::kFloat && !qkv.is_cuda(),
              "qkv must be a float32 CPU tensor [B, S, 3, H, d]");
  qkv = qkv.contiguous();
  const int64_t B = qkv.size(0), S = qkv.size(1), H = qkv.size(3), d = qkv.size(4);
  const int64_t Sp = (S + W - 1) / W * W;
  const float scale = static_cast<float>(scale_);
  auto out = torch::empty({B, S, H, d}, qkv.options());
  auto lse = torch::empty({B, H, S}, qkv.options());
  const float* src = qkv.data_ptr<float>();
  float* o = out.data_ptr<float>();
  float* l = lse.data_ptr<float>();
  dispatch_d(d, [&](auto D_) {
    constexpr int D = decltype(D_)::value;
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> qT(D * Sp), kT(D * Sp), vT(D * Sp), oT(D * Sp), lT(Sp), s(S * W);
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const float* base = src + b * S * 3 * H * D;  // example b's qkv
        pack_qkv(base, S, H, D, Sp, h, qT.data(), kT.data(), vT.data());
        forward_head<D>(qT.data(), kT.data(), vT.data(), S, Sp, scale, oT.data(), lT.data(), s.data());
        for (int64_t i = 0; i < S; ++i) {
          float* orow = o + ((b * S + i) * H + h) * D;
          for (int c = 0; c < D; ++c) orow[c] = oT[c * Sp + i];
          l[bh * S + i] = lT[i];
        }
      }
    });
  });
  return {out, lse};
}

torch::Tensor backward(torch::Tensor grad, torch::Tensor qkv, torch::Tensor out, torch::Tensor lse, double scale_) {
  grad = grad.contiguous();
  qkv = qkv.contiguous();
  const int64_t B = qkv.size(0), S = qkv.size(1), H = qkv.size(3), d = qkv.size(4);
  const int64_t Sp = (S + W - 1) / W * W;
  const float scale = static_cast<float>(scale_);
  auto dqkv = torch::empty_like(qkv);
  const float* src = qkv.data_ptr<float>();
  const float* g = grad.data_ptr<float>();
  const float* o = out.data_ptr<float>();
  const float* l = lse.data_ptr<float>();
  float* dst = dqkv.data_ptr<float>();
  dispatch_d(d, [&](auto D_) {
    constexpr int D = decltype(D_)::value;
    at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
      std::vector<float> qT(D * Sp), kT(D * Sp), vT(D * Sp), gT(D * Sp), lT(Sp), dl(Sp);
      std::vector<float> dqT(D * Sp), dkT(D * Sp), dvT(D * Sp), acc(S * 2 * D * W);
      for (int64_t bh = begin; bh < end; ++bh) {
        const int64_t b = bh / H, h = bh % H;
        const float* base = src + b * S * 3 * H * D;  // example b's qkv
        pack_qkv(base, S, H, D, Sp, h, qT.data(), kT.data(), vT.data());
        pack_bshd(g + b * S * H * D, S, H, D, Sp, h, gT.data());
        std::fill(lT.begin(), lT.end(), 0.f);  // padded query rows: lanes nobody reads
        std::fill(dl.begin(), dl.end(), 0.f);
        for (int64_t i = 0; i < S; ++i) {
          const int64_t at = ((b * S + i) * H + h) * D;
          float delta = 0.f;
          for (int c = 0; c < D; ++c) delta += g[at + c] * o[at + c];
          dl[i] = delta;
          lT[i] = l[bh * S + i];
        }
        backward_head<D>(qT.data(), kT.data(), vT.data(), gT.data(), lT.data(), dl.data(), S, Sp, scale, dqT.data(),
                         dkT.data(), dvT.data(), acc.data());
        float* drow0 = dst + b * S * 3 * H * D + h * D;
        for (int64_t i = 0; i < S; ++i) {
          float* r = drow0 + i * 3 * H * D;
          for (int c = 0; c < D; ++c) {
            r[c] = dqT[c * Sp + i];
            r[H * D + c] = dkT[c * Sp + i];
            r[2 * H * D + c] = dvT[c * Sp + i];
          }
        }
      }
    });
  });
  return dqkv;
}

}  // namespace nasrec::attention
