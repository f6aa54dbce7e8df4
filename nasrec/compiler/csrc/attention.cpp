// Fused multi-head self-attention for narrow heads on CPU (nasrec/compiler/fused.py builds and calls it).
//
// qkv [B, S, 3, H, d] (the attention operator's projection, as it comes out of its Linear) -> out [B, S, H, d]
// and the rows' log-sum-exp [B, H, S]; the backward takes grad [B, S, H, d] and returns d(qkv) in qkv's layout.
// Per (batch, head) the S x S scores live in one row buffer at a time: for every query row the scores, their
// softmax and the products with V are computed in vectorised loops over the keys (heads of width d = 2 make
// matrix-product kernels the wrong tool). The backward recomputes each row's probabilities from the saved
// log-sum-exp. Rows are padded to the vector width; padded keys get -inf scores and zero probabilities.

#if defined(__AVX512F__)
#define CPU_CAPABILITY_AVX512
#elif defined(__AVX2__)
#define CPU_CAPABILITY_AVX2
#endif

#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <ATen/cpu/vec/functional.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <limits>
#include <vector>

namespace {

using Vec = at::vec::Vectorized<float>;
constexpr int64_t W = Vec::size();

inline float hsum(const Vec& v) {
  return at::vec::vec_reduce_all<float>([](Vec& a, Vec& b) { return a + b; }, v);
}

inline float hmax(const Vec& v) {
  return at::vec::vec_reduce_all<float>([](Vec& a, Vec& b) { return at::vec::maximum(a, b); }, v);
}

// scores of query row `q` (d values) against the transposed keys kT [d][Sp], times `scale`, into `s` [Sp]
inline void row_scores(const float* q, const float* kT, int64_t d, int64_t Sp, float scale, float* s) {
  for (int64_t j = 0; j < Sp; j += W) {
    Vec acc = Vec(q[0]) * Vec::loadu(kT + j);
    for (int64_t c = 1; c < d; ++c) acc = at::vec::fmadd(Vec(q[c]), Vec::loadu(kT + c * Sp + j), acc);
    (acc * Vec(scale)).store(s + j);
  }
}

// gather one head's q rows [S][d], and K, V transposed and zero-padded [d][Sp]
inline void pack(const float* base, int64_t S, int64_t H, int64_t d, int64_t Sp, int64_t h, float* q, float* kT,
                 float* vT) {
  const int64_t row = 3 * H * d;  // stride of the sequence axis in qkv
  std::fill(kT, kT + d * Sp, 0.f);
  std::fill(vT, vT + d * Sp, 0.f);
  for (int64_t i = 0; i < S; ++i) {
    const float* r = base + i * row + h * d;
    for (int64_t c = 0; c < d; ++c) {
      q[i * d + c] = r[c];
      kT[c * Sp + i] = r[H * d + c];
      vT[c * Sp + i] = r[2 * H * d + c];
    }
  }
}

}  // namespace

std::vector<torch::Tensor> attention_forward(torch::Tensor qkv, double scale_) {
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
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> q(S * d), kT(d * Sp), vT(d * Sp), s(Sp);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      pack(src + b * S * 3 * H * d, S, H, d, Sp, h, q.data(), kT.data(), vT.data());
      for (int64_t i = 0; i < S; ++i) {
        row_scores(q.data() + i * d, kT.data(), d, Sp, scale, s.data());
        for (int64_t j = S; j < Sp; ++j) s[j] = ninf;
        Vec mv(ninf);
        for (int64_t j = 0; j < Sp; j += W) mv = at::vec::maximum(mv, Vec::loadu(s.data() + j));
        const float m = hmax(mv);
        Vec sum(0.f);
        for (int64_t j = 0; j < Sp; j += W) {
          Vec p = (Vec::loadu(s.data() + j) - Vec(m)).exp_u20();
          p.store(s.data() + j);
        }
        for (int64_t j = S; j < Sp; ++j) s[j] = 0.f;
        for (int64_t j = 0; j < Sp; j += W) sum = sum + Vec::loadu(s.data() + j);
        const float total = hsum(sum);
        float* orow = o + ((b * S + i) * H + h) * d;
        for (int64_t c = 0; c < d; ++c) {
          Vec acc(0.f);
          for (int64_t j = 0; j < Sp; j += W)
            acc = at::vec::fmadd(Vec::loadu(s.data() + j), Vec::loadu(vT.data() + c * Sp + j), acc);
          orow[c] = hsum(acc) / total;
        }
        l[bh * S + i] = m + std::log(total);
      }
    }
  });
  return {out, lse};
}

torch::Tensor attention_backward(torch::Tensor grad, torch::Tensor qkv, torch::Tensor out, torch::Tensor lse,
                                 double scale_) {
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
  const float ninf = -std::numeric_limits<float>::infinity();
  at::parallel_for(0, B * H, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> q(S * d), kT(d * Sp), vT(d * Sp), dkT(d * Sp), dvT(d * Sp), p(Sp), ds(Sp);
    for (int64_t bh = begin; bh < end; ++bh) {
      const int64_t b = bh / H, h = bh % H;
      pack(src + b * S * 3 * H * d, S, H, d, Sp, h, q.data(), kT.data(), vT.data());
      std::fill(dkT.begin(), dkT.end(), 0.f);
      std::fill(dvT.begin(), dvT.end(), 0.f);
      float* drow0 = dst + b * S * 3 * H * d + h * d;
      for (int64_t i = 0; i < S; ++i) {
        const int64_t at = ((b * S + i) * H + h) * d;
        const float* gi = g + at;
        float delta = 0.f;
        for (int64_t c = 0; c < d; ++c) delta += gi[c] * o[at + c];
        row_scores(q.data() + i * d, kT.data(), d, Sp, scale, p.data());
        const Vec li(l[bh * S + i]);
        for (int64_t j = 0; j < Sp; j += W) (Vec::loadu(p.data() + j) - li).exp_u20().store(p.data() + j);
        for (int64_t j = S; j < Sp; ++j) p[j] = 0.f;
        for (int64_t j = 0; j < Sp; j += W) {
          const Vec pj = Vec::loadu(p.data() + j);
          Vec dp(0.f);
          for (int64_t c = 0; c < d; ++c) {
            float* dv = dvT.data() + c * Sp + j;
            at::vec::fmadd(pj, Vec(gi[c]), Vec::loadu(dv)).store(dv);
            dp = at::vec::fmadd(Vec(gi[c]), Vec::loadu(vT.data() + c * Sp + j), dp);
          }
          (pj * (dp - Vec(delta))).store(ds.data() + j);
        }
        float* dq = drow0 + i * 3 * H * d;
        for (int64_t c = 0; c < d; ++c) {
          Vec acc(0.f);
          const Vec qc(scale * q[i * d + c]);
          for (int64_t j = 0; j < Sp; j += W) {
            const Vec dsj = Vec::loadu(ds.data() + j);
            acc = at::vec::fmadd(dsj, Vec::loadu(kT.data() + c * Sp + j), acc);
            float* dk = dkT.data() + c * Sp + j;
            at::vec::fmadd(dsj, qc, Vec::loadu(dk)).store(dk);
          }
          dq[c] = scale * hsum(acc);
        }
      }
      for (int64_t j = 0; j < S; ++j) {
        float* r = drow0 + j * 3 * H * d;
        for (int64_t c = 0; c < d; ++c) {
          r[H * d + c] = dkT[c * Sp + j];
          r[2 * H * d + c] = dvT[c * Sp + j];
        }
      }
    }
  });
  return dqkv;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &attention_forward, "fused narrow-head attention, forward");
  m.def("backward", &attention_backward, "fused narrow-head attention, backward");
}
