// The fused CPU kernels, one extension (nasrec/compiler/fused.py builds it on first use and calls it).

#include "adagrad.h"
#include "attention.h"
#include "layer_norm.h"

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("attention_forward", &nasrec::attention::forward, "fused narrow-head attention, forward");
  m.def("attention_backward", &nasrec::attention::backward, "fused narrow-head attention, backward");
  m.def("layer_norm_forward", &nasrec::layer_norm::forward, "LayerNorm over narrow rows, forward");
  m.def("layer_norm_backward", &nasrec::layer_norm::backward, "LayerNorm over narrow rows, backward");
  m.def("adagrad_step", &nasrec::adagrad::step, "Adagrad's dense update in one pass per tensor");
  m.attr("max_head_width") = nasrec::attention::MAX_D;
  m.attr("max_norm_width") = nasrec::layer_norm::MAX_V * nasrec::W;
  m.attr("lanes") = nasrec::W;
}
