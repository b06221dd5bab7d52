// Bindings of the embedding losses (learn/embedding_losses.hpp), registered by module.cpp.
// Inputs are validated and laid out by python/fastmetric/losses.py: Z a C-contiguous, aligned,
// native float32 / float64 (n x d) array, labels int64 class codes (n,). Each call returns
// (loss, G, count0, count1) with G of Z's dtype; the GIL is released around the C++ work.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#include "fastmetric/learn/embedding_losses.hpp"

namespace py = pybind11;

namespace fastmetric {
namespace {

using learn::EmbeddingDistance;
using learn::EmbeddingLossResult;
using learn::TripletMiner;
using labels_t = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

EmbeddingDistance distance_of(const std::string& s) {
    if (s == "euclidean") return EmbeddingDistance::euclidean;
    if (s == "cosine") return EmbeddingDistance::cosine;
    throw std::invalid_argument("distance must be 'euclidean' or 'cosine', got '" + s + "'");
}

TripletMiner miner_of(const std::string& s) {
    if (s == "none") return TripletMiner::none;
    if (s == "all") return TripletMiner::all;
    if (s == "hard") return TripletMiner::hard;
    if (s == "semihard") return TripletMiner::semihard;
    if (s == "batch_hard") return TripletMiner::batch_hard;
    throw std::invalid_argument("miner must be 'none', 'all', 'hard', 'semihard' or 'batch_hard', got '" + s + "'");
}

int float_size(const py::array& a) {
    const char bo = a.dtype().byteorder();
    const bool native = bo == '=' || bo == '|' ||
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
                        bo == '>';
#else
                        bo == '<';
#endif
    return a.dtype().kind() == 'f' && native ? int(a.itemsize()) : 0;
}

template <class T>
MatrixView<T> view_of(const py::array& Z) {
    if (Z.ndim() != 2) throw std::invalid_argument("Z must be 2-D");
    if (!(Z.flags() & py::array::c_style)) throw std::invalid_argument("Z must be C-contiguous");
    if (reinterpret_cast<std::uintptr_t>(Z.data()) % alignof(T) != 0)
        throw std::invalid_argument("Z is not aligned to its item size");
    MatrixView<T> v;
    v.data = static_cast<const T*>(Z.data());
    v.rows = Z.shape(0);
    v.cols = Z.shape(1);
    v.row_stride = Z.shape(1);
    v.col_stride = 1;
    return v;
}

// Checks the shapes, allocates G and runs f(view, labels, G) without the GIL.
template <class F>
py::tuple run(const py::array& Z, const labels_t& labels, F&& f) {
    const int fs = float_size(Z);
    if (fs != 4 && fs != 8) throw py::type_error("Z must be a native-order float32 or float64 array");
    if (Z.ndim() != 2) throw std::invalid_argument("Z must be 2-D");
    if (labels.ndim() != 1 || labels.shape(0) != Z.shape(0))
        throw std::invalid_argument("labels must be 1-D with one entry per row of Z");
    const std::int64_t* lab = labels.data();
    auto go = [&](auto tag) -> py::tuple {
        using T = decltype(tag);
        const MatrixView<T> v = view_of<T>(Z);
        py::array_t<T> G({Z.shape(0), Z.shape(1)});
        T* g = G.mutable_data();
        EmbeddingLossResult r;
        {
            py::gil_scoped_release release;
            r = f(v, lab, g);
        }
        return py::make_tuple(r.loss, G, r.count[0], r.count[1]);
    };
    if (fs == 4) return go(float{});
    return go(double{});
}

}  // namespace

void register_embedding_losses(py::module_& m) {
    m.def(
        "embedding_triplet_loss",
        [](const py::array& Z, const labels_t& labels, const std::string& distance, bool normalize, double margin,
           const std::string& miner, double miner_margin, int n_threads) {
            const EmbeddingDistance dist = distance_of(distance);
            const TripletMiner mi = miner_of(miner);
            return run(Z, labels, [&](auto v, const std::int64_t* lab, auto* g) {
                return learn::triplet_margin_loss(v, lab, dist, normalize, margin, mi, miner_margin, g, n_threads);
            });
        },
        py::arg("Z"), py::arg("labels"), py::arg("distance"), py::arg("normalize"), py::arg("margin"),
        py::arg("miner"), py::arg("miner_margin"), py::arg("n_threads"),
        "Triplet margin loss with a miner: (loss, G, n_positive_triplets, n_mined_triplets).");
    m.def(
        "embedding_contrastive_loss",
        [](const py::array& Z, const labels_t& labels, const std::string& distance, bool normalize, double pos_margin,
           double neg_margin, int n_threads) {
            const EmbeddingDistance dist = distance_of(distance);
            return run(Z, labels, [&](auto v, const std::int64_t* lab, auto* g) {
                return learn::contrastive_loss(v, lab, dist, normalize, pos_margin, neg_margin, g, n_threads);
            });
        },
        py::arg("Z"), py::arg("labels"), py::arg("distance"), py::arg("normalize"), py::arg("pos_margin"),
        py::arg("neg_margin"), py::arg("n_threads"),
        "Contrastive loss: (loss, G, n_positive_pairs_with_loss, n_negative_pairs_with_loss).");
    m.def(
        "embedding_multi_similarity_loss",
        [](const py::array& Z, const labels_t& labels, const std::string& distance, bool normalize, double alpha,
           double beta, double base, int n_threads) {
            const EmbeddingDistance dist = distance_of(distance);
            return run(Z, labels, [&](auto v, const std::int64_t* lab, auto* g) {
                return learn::multi_similarity_loss(v, lab, dist, normalize, alpha, beta, base, g, n_threads);
            });
        },
        py::arg("Z"), py::arg("labels"), py::arg("distance"), py::arg("normalize"), py::arg("alpha"),
        py::arg("beta"), py::arg("base"), py::arg("n_threads"),
        "Multi-similarity loss: (loss, G, n_positive_pairs, n_negative_pairs).");
}

}  // namespace fastmetric
