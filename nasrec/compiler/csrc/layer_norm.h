#pragma once
// LayerNorm over narrow rows on CPU (kernels.cpp binds it; nasrec/compiler/fused.py calls it).
//
// x [..., C] with C <= 64 -> y, and per row the mean and 1 / std. torch's kernel is built for wide rows: on the
// operators' rows of 16-64 floats (a token's embedding, a token axis) it spends most of its time per row, not per
// float. Here a row is V vectors held in registers (V a template parameter: 1-4 with AVX-512, 1-8 with AVX2),
// with two horizontal sums per row in the forward (the mean, then the centred squares: the two-pass variance)
// and two in the backward; the weight and bias stay in registers across rows, and the backward keeps the
// gradients of the weight and bias in registers per chunk of GRAIN rows, summed over the chunks in a fixed
// order afterwards (deterministic whatever the thread count). Rows of more than 4 vectors are streamed in the
// backward (backward_row_streamed).

#include "common.h"

#include <algorithm>
#include <cmath>

namespace nasrec::layer_norm {

constexpr int MAX_V = std::min<int64_t>(8, 64 / W);  // rows of up to 8 vectors and 64 floats
constexpr int64_t GRAIN = 1024;

// vector k of a row of C floats; lanes past C load 0 / are not stored
inline Vec load_part(const float* p, int64_t C, int k) {
  const int64_t c = k * W;
  return (c + W <= C) ? Vec::loadu(p + c) : Vec::loadu(p + c, C - c);
}

inline void store_part(const Vec& v, int64_t C, int k, float* p) {
  const int64_t c = k * W;
  if (c + W <= C)
    v.store(p + c);
  else
    v.store(p + c, C - c);
}

// a row of C floats into V vectors, and back
template <int V>
inline void load_row(const float* p, int64_t C, Vec* out) {
  for (int k = 0; k < V; ++k) out[k] = load_part(p, C, k);
}

template <int V>
inline void store_row(const Vec* v, int64_t C, float* p) {
  for (int k = 0; k < V; ++k) store_part(v[k], C, k, p);
}

template <int V>
void forward_rows(const float* px, const float* pw, const float* pb, int64_t C, float eps, int64_t begin,
                  int64_t end, float* py, float* pm, float* pr) {
  Vec w[V], b[V];
  load_row<V>(pw, C, w);
  load_row<V>(pb, C, b);
  const float inv = 1.f / C;
  const int64_t tail = C - (V - 1) * W;  // valid lanes of the last vector
  for (int64_t n = begin; n < end; ++n) {
    Vec x[V];
    load_row<V>(px + n * C, C, x);
    Vec s = x[0];
    for (int k = 1; k < V; ++k) s = s + x[k];
    const float m = hsum(s) * inv;
    const Vec vm(m);
    Vec q(0.f);
    for (int k = 0; k < V; ++k) {
      x[k] = x[k] - vm;
      if (k == V - 1 && tail < W) x[k] = Vec::set(Vec(0.f), x[k], tail);  // lanes past C back to 0
      q = at::vec::fmadd(x[k], x[k], q);
    }
    const float rs = 1.f / std::sqrt(hsum(q) * inv + eps);
    pm[n] = m;
    pr[n] = rs;
    const Vec vr(rs);
    for (int k = 0; k < V; ++k) x[k] = at::vec::fmadd(x[k] * vr, w[k], b[k]);
    store_row<V>(x, C, py + n * C);
  }
}

// one row's dx, the row held in 2V registers (V <= 4); adds its dy * x_hat to dw and dy to db
template <int V>
inline void backward_row_in_registers(const float* dyr, const float* xr, const Vec& vm, const Vec& vr, const Vec* w,
                                      int64_t C, float inv, float* dxr, Vec* dw, Vec* db) {
  Vec x[V], g[V];
  load_row<V>(xr, C, x);
  load_row<V>(dyr, C, g);  // lanes past C: g = 0, so they add nothing below
  Vec s1(0.f), s2(0.f);
  for (int k = 0; k < V; ++k) {
    x[k] = (x[k] - vm) * vr;  // x hat
    dw[k] = at::vec::fmadd(g[k], x[k], dw[k]);
    db[k] = db[k] + g[k];
    g[k] = g[k] * w[k];
    s1 = s1 + g[k];
    s2 = at::vec::fmadd(g[k], x[k], s2);
  }
  const Vec a(hsum(s1) * inv), c(hsum(s2) * inv);
  for (int k = 0; k < V; ++k) g[k] = vr * (g[k] - a - x[k] * c);
  store_row<V>(g, C, dxr);
}

// the same for rows of 5-8 vectors (AVX2), with w and the sums dw, db in memory (L1) and x, dy read twice: held
// in registers they would spill (2-2.5x slower at 48 floats)
template <int V>
inline void backward_row_streamed(const float* dyr, const float* xr, const Vec& vm, const Vec& vr, const float* pw,
                                  int64_t C, float inv, float* dxr, float* dw, float* db) {
  Vec s1(0.f), s2(0.f);
  for (int k = 0; k < V; ++k) {
    const Vec xh = (load_part(xr, C, k) - vm) * vr;
    const Vec g = load_part(dyr, C, k);
    at::vec::fmadd(g, xh, Vec::loadu(dw + k * W)).store(dw + k * W);
    (Vec::loadu(db + k * W) + g).store(db + k * W);
    const Vec gw = g * load_part(pw, C, k);
    s1 = s1 + gw;
    s2 = at::vec::fmadd(gw, xh, s2);
  }
  const Vec a(hsum(s1) * inv), c(hsum(s2) * inv);
  for (int k = 0; k < V; ++k) {
    const Vec xh = (load_part(xr, C, k) - vm) * vr;
    store_part(vr * (load_part(dyr, C, k) * load_part(pw, C, k) - a - xh * c), C, k, dxr);
  }
}

// rows [begin, end): dx, and this chunk's sums of dy * x_hat (dw) and dy (db) into dw_out, db_out [V * W]
template <int V>
void backward_rows(const float* pdy, const float* px, const float* pm, const float* pr, const float* pw, int64_t C,
                   int64_t begin, int64_t end, float* pdx, float* dw_out, float* db_out) {
  const float inv = 1.f / C;
  if constexpr (V > 4) {
    std::fill(dw_out, dw_out + V * W, 0.f);
    std::fill(db_out, db_out + V * W, 0.f);
    for (int64_t n = begin; n < end; ++n)
      backward_row_streamed<V>(pdy + n * C, px + n * C, Vec(pm[n]), Vec(pr[n]), pw, C, inv, pdx + n * C, dw_out,
                               db_out);
  } else {
    Vec w[V], dw[V], db[V];
    load_row<V>(pw, C, w);
    for (int k = 0; k < V; ++k) dw[k] = db[k] = Vec(0.f);
    for (int64_t n = begin; n < end; ++n)
      backward_row_in_registers<V>(pdy + n * C, px + n * C, Vec(pm[n]), Vec(pr[n]), w, C, inv, pdx + n * C, dw, db);
    for (int k = 0; k < V; ++k) {
      dw[k].store(dw_out + k * W);
      db[k].store(db_out + k * W);
    }
  }
}

template <typename F>
void dispatch_v(int64_t C, F&& f) {
  switch ((C + W - 1) / W) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
  }
  if constexpr (MAX_V > 4) {  // AVX2's 8-float vectors
    switch ((C + W - 1) / W) {
      case 5: return f(std::integral_constant<int, 5>{});
      case 6: return f(std::integral_constant<int, 6>{});
      case 7: return f(std::integral_constant<int, 7>{});
      case 8: return f(std::integral_constant<int, 8>{});
    }
  }
  TORCH_CHECK(false, "fused layer norm: rows of ", C, " floats (at most ", MAX_V * W, ")");
}

inline void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.scalar_type() == torch::kFloat && !t.is_cuda(), name, " must be a float32 CPU tensor");
}

std::vector<torch::Tensor> forward(torch::Tensor x, torch::Tensor w, torch::Tensor b, double eps) {
  check(x, "x");
  check(w, "weight");
  check(b, "bias");
  x = x.contiguous();
  w = w.contiguous();
  b = b.contiguous();
  const int64_t C = x.size(-1), N = x.numel() / std::max<int64_t>(C, 1);
  TORCH_CHECK(C > 0 && w.numel() == C && b.numel() == C, "weight and bias must have the rows' width ", C);
  auto y = torch::empty_like(x);
  auto mean = torch::empty({N}, x.options()), rstd = torch::empty({N}, x.options());
  const float *px = x.data_ptr<float>(), *pw = w.data_ptr<float>(), *pb = b.data_ptr<float>();
  float *py = y.data_ptr<float>(), *pm = mean.data_ptr<float>(), *pr = rstd.data_ptr<float>();
  dispatch_v(C, [&](auto V_) {
    constexpr int V = decltype(V_)::value;
    at::parallel_for(0, N, GRAIN, [&](int64_t begin, int64_t end) {
      forward_rows<V>(px, pw, pb, C, static_cast<float>(eps), begin, end, py, pm, pr);
    });
  });
  return {y, mean, rstd};
}

// -> dx, dw, db
std::vector<torch::Tensor> backward(torch::Tensor dy, torch::Tensor x, torch::Tensor mean, torch::Tensor rstd,
                                    torch::Tensor w) {
  dy = dy.contiguous();
  x = x.contiguous();
  w = w.contiguous();
  const int64_t C = x.size(-1), N = x.numel() / C;
  const int64_t Cp = (C + W - 1) / W * W;
  const int64_t chunks = std::max<int64_t>(1, (N + GRAIN - 1) / GRAIN);
  auto dx = torch::empty_like(x);
  std::vector<float> parts(2 * chunks * Cp);  // per chunk of rows: its dw, then its db
  const float *pdy = dy.data_ptr<float>(), *px = x.data_ptr<float>(), *pm = mean.data_ptr<float>(),
              *pr = rstd.data_ptr<float>(), *pw = w.data_ptr<float>();
  float *pdx = dx.data_ptr<float>(), *pp = parts.data();
  dispatch_v(C, [&](auto V_) {
    constexpr int V = decltype(V_)::value;
    at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        backward_rows<V>(pdy, px, pm, pr, pw, C, c * GRAIN, std::min(N, (c + 1) * GRAIN), pdx, pp + 2 * c * Cp,
                         pp + (2 * c + 1) * Cp);
    });
  });
  auto dw = torch::zeros({C}, x.options()), db = torch::zeros({C}, x.options());
  float *pdw = dw.data_ptr<float>(), *pdb = db.data_ptr<float>();
  for (int64_t c = 0; c < chunks; ++c)  // in chunk order: the same sums whatever the thread count
    for (int64_t i = 0; i < C; ++i) {
      pdw[i] += pp[2 * c * Cp + i];
      pdb[i] += pp[(2 * c + 1) * Cp + i];
    }
  return {dx, dw, db};
}

}  // namespace nasrec::layer_norm
