// train: a small data-parallel "training" loop that resumes exactly (SPEC R10b). Model-like
// parameters and Adam-like moments in Thrust vectors (the same on every rank), a step counter, a
// std::mt19937_64 and a Thrust random engine per rank, and a data loader (this rank's samples in a
// shuffled order, a cursor, reshuffled at each epoch end). Every step takes a minibatch, computes
// a synthetic gradient from the parameters, the samples and noise from the Thrust engine, averages
// it over the ranks in rank order (bit-identical on every rank, run to run) and applies Adam.
// Kill a rank (--crash-at-step) and run the same command again: the last line, an XXH3-64 of the
// final parameters, is the same as an uninterrupted run's.
#include <strata/checkpoint.hpp>
#include <strata/detail/hash.hpp>
#include <strata/snapshot/any.hpp>
#include <strata/snapshot/full.hpp>
#include <strata/snapshot/incremental.hpp>

#include <CLI/CLI.hpp>
#include <thrust/copy.h>
#include <thrust/device_vector.h>
#include <thrust/for_each.h>
#include <thrust/host_vector.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/random.h>
#include <thrust/transform.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

struct settings {
  std::uint64_t steps = 60, every = 10, seed = 2026;
  std::size_t params = 4096, samples = 256, batch = 8;  // samples: the whole data set, split over ranks
  std::string dir = "train_ckpt", snapshot = "full";
  long long crash_at_step = -1;
  int crash_rank = 0, step_delay_ms = 0;
  bool async = false, quiet = false;
};

/// This rank's share of the data set: its sample indices in this epoch's order and how far it got.
struct data_loader {
  std::vector<std::uint32_t> order;
  std::uint64_t cursor = 0, epoch = 0;

  /// Fisher-Yates with `rng` (not std::shuffle, whose draws the standard leaves to the library).
  void shuffle(std::mt19937_64& rng) {
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng() % i]);
  }
  /// The next sample; at the end of an epoch, reshuffles and starts the next one.
  std::uint32_t next(std::mt19937_64& rng) {
    if (cursor == order.size()) {
      shuffle(rng);
      cursor = 0;
      ++epoch;
    }
    return order[cursor++];
  }
};

}  // namespace

/// The loader joins a checkpoint through strata's customisation point (it holds a std::vector).
template <>
struct strata::serializer<data_loader> {
  static void save(byte_writer& w, data_loader const& l) {
    w.range(l.order);
    w.value(l.cursor);
    w.value(l.epoch);
  }
  static void load(byte_reader& r, data_loader& l) {
    r.range(l.order);
    r.value(l.cursor);
    r.value(l.epoch);
  }
};

// Both engines are saved as their bytes: protect() takes trivially copyable values as they are.
static_assert(std::is_trivially_copyable_v<std::mt19937_64>, "train protects std::mt19937_64 as a value");
static_assert(std::is_trivially_copyable_v<thrust::default_random_engine>, "and the Thrust engine too");

namespace {

STRATA_HOST_DEVICE inline std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/// A value in [-1, 1) from 24 bits of a hash.
STRATA_HOST_DEVICE inline float unit(std::uint64_t h) {
  return static_cast<float>(h >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

struct initial_param {
  STRATA_HOST_DEVICE float operator()(std::size_t j) const { return 0.5f * unit(mix(j + 1)); }
};

/// This rank's gradient at parameter j: the mean over the minibatch of (p - target), each target
/// set by the sample and its augmentation draw, plus noise from a Thrust engine seeded per step.
struct local_gradient {
  float const* params;
  std::uint32_t const* batch;  // batch_size sample indices, then batch_size augmentation draws
  std::size_t batch_size;
  std::uint32_t noise_seed;
  STRATA_HOST_DEVICE float operator()(std::size_t j) const {
    float const p = params[j];
    float g = 0.0f;
    for (std::size_t k = 0; k < batch_size; ++k) {  // serial: the same order whatever the threads
      float const target = unit(mix((std::uint64_t{batch[k]} << 32) ^ j)) + 0.05f * unit(mix(batch[batch_size + k] ^ j));
      g += p - target;
    }
    thrust::default_random_engine e(static_cast<std::uint32_t>(mix((std::uint64_t{noise_seed} << 32) | j) % 2147483646u) + 1u);
    thrust::uniform_real_distribution<float> noise(-1.0f, 1.0f);
    return g / static_cast<float>(batch_size) + 0.1f * noise(e);
  }
};

/// The mean over ranks of the gathered gradients (rank r's at [r * n, (r + 1) * n)), summed in rank order.
struct rank_mean {
  float const* gathered;
  std::size_t n;
  int ranks;
  STRATA_HOST_DEVICE float operator()(std::size_t j) const {
    float s = 0.0f;
    for (int r = 0; r < ranks; ++r) s += gathered[static_cast<std::size_t>(r) * n + j];
    return s / static_cast<float>(ranks);
  }
};

/// One Adam step on parameter j; c1, c2: the bias corrections 1 / (1 - beta^t).
struct adam_update {
  float* params;
  float* m;
  float* v;
  float const* grad;
  float lr, beta1, beta2, eps, c1, c2;
  STRATA_HOST_DEVICE void operator()(std::size_t j) const {
    float const g = grad[j];
    m[j] = beta1 * m[j] + (1.0f - beta1) * g;
    v[j] = beta2 * v[j] + (1.0f - beta2) * g * g;
    params[j] -= lr * (m[j] * c1) / (sqrtf(v[j] * c2) + eps);
  }
};

using checkpointer_t = strata::checkpointer<strata::comm::mpi, strata::snapshot::any>;

int train(strata::comm::mpi const& world, settings const& s) {
  int const rank = world.rank(), size = world.size();
  std::size_t const n = s.params;
  auto const all = thrust::counting_iterator<std::size_t>(0), all_end = all + static_cast<std::ptrdiff_t>(n);

  // Replicated: the same on every rank.
  thrust::device_vector<float> params(n), m(n, 0.0f), v(n, 0.0f);
  thrust::transform(all, all_end, params.begin(), initial_param{});
  std::uint64_t step = 0;
  // Per rank: the engines and the loader (samples rank, rank + size, ...).
  std::mt19937_64 rng{s.seed + static_cast<std::uint64_t>(rank)};
  thrust::default_random_engine noise_engine{static_cast<std::uint32_t>(1000 + rank)};
  data_loader loader;
  for (std::size_t i = static_cast<std::size_t>(rank); i < s.samples; i += static_cast<std::size_t>(size))
    loader.order.push_back(static_cast<std::uint32_t>(i));
  loader.shuffle(rng);

  checkpointer_t::options opt;
  opt.directory = s.dir;
  opt.trigger.n = s.every;
  if (s.snapshot == "incremental") opt.snapshot = strata::snapshot::incremental<4096>{};
  else opt.snapshot = strata::snapshot::full{};
  opt.async = s.async;
  checkpointer_t ckpt{world, std::move(opt)};
  ckpt.protect("params", params, strata::replicated{});
  ckpt.protect("adam.m", m, strata::replicated{});
  ckpt.protect("adam.v", v, strata::replicated{});
  ckpt.protect("step", step, strata::replicated{});
  ckpt.protect("rng", rng);
  ckpt.protect("noise_rng", noise_engine);
  ckpt.protect("loader", loader);
  auto const resumed = ckpt.restore_latest();
  if (resumed && rank == 0)
    std::printf("resumed from version %llu at step %llu\n", static_cast<unsigned long long>(*resumed),
                static_cast<unsigned long long>(step));

  std::vector<std::uint32_t> batch_host(2 * s.batch);
  thrust::device_vector<std::uint32_t> batch(2 * s.batch);
  thrust::device_vector<float> grad(n), gathered(n * static_cast<std::size_t>(size));
  std::vector<float> grad_host(n), gathered_host(n * static_cast<std::size_t>(size));
  float const lr = 0.01f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;
  while (step < s.steps) {
    for (std::size_t k = 0; k < s.batch; ++k) {
      batch_host[k] = loader.next(rng);
      batch_host[s.batch + k] = static_cast<std::uint32_t>(rng() >> 32);  // augmentation draw
    }
    thrust::copy(batch_host.begin(), batch_host.end(), batch.begin());
    thrust::transform(all, all_end, grad.begin(),
                      local_gradient{thrust::raw_pointer_cast(params.data()), thrust::raw_pointer_cast(batch.data()),
                                     s.batch, static_cast<std::uint32_t>(noise_engine())});

    // Average over ranks: every rank gathers all gradients and sums them in rank order, so the
    // result is bit-identical on every rank (an MPI_SUM all-reduce may add in another order per rank).
    thrust::copy(grad.begin(), grad.end(), grad_host.begin());
    MPI_Allgather(grad_host.data(), static_cast<int>(n), MPI_FLOAT, gathered_host.data(), static_cast<int>(n),
                  MPI_FLOAT, world.native());
    thrust::copy(gathered_host.begin(), gathered_host.end(), gathered.begin());
    thrust::transform(all, all_end, grad.begin(), rank_mean{thrust::raw_pointer_cast(gathered.data()), n, size});

    ++step;
    if (s.step_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s.step_delay_ms));
    auto const t = static_cast<double>(step);
    thrust::for_each(all, all_end,
                     adam_update{thrust::raw_pointer_cast(params.data()), thrust::raw_pointer_cast(m.data()),
                                 thrust::raw_pointer_cast(v.data()), thrust::raw_pointer_cast(grad.data()), lr, beta1,
                                 beta2, eps, static_cast<float>(1.0 / (1.0 - std::pow(double{beta1}, t))),
                                 static_cast<float>(1.0 / (1.0 - std::pow(double{beta2}, t)))});

    if (!resumed && static_cast<long long>(step) == s.crash_at_step && rank == s.crash_rank) {
      std::fprintf(stderr, "train: rank %d killing itself with SIGKILL at step %llu\n", rank,
                   static_cast<unsigned long long>(step));
      std::fflush(stderr);
      std::raise(SIGKILL);
    }
    ckpt.step(step);
    if (ckpt.stop_requested()) {  // a pre-emption signal: the state of this step is committed
      if (rank == 0)
        std::printf("train: stopped for pre-emption at step %llu, checkpoint version %llu; run the same command "
                    "to resume\n",
                    static_cast<unsigned long long>(step), static_cast<unsigned long long>(ckpt.preempted()->version));
      return 0;
    }
    if (!s.quiet && rank == 0 && (step % s.every == 0 || step == s.steps))
      std::printf("step %llu/%llu, epoch %llu\n", static_cast<unsigned long long>(step),
                  static_cast<unsigned long long>(s.steps), static_cast<unsigned long long>(loader.epoch));
  }
  ckpt.wait();  // async: every queued version committed before the result is reported

  // The parameters are replicated: check that every rank holds the same bytes, then print their hash.
  thrust::host_vector<float> const final_params(params);
  auto const h = strata::detail::xxh3(std::as_bytes(std::span(final_params.data(), final_params.size())));
  unsigned long long lo = h, hi = h;
  MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, world.native());
  MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UNSIGNED_LONG_LONG, MPI_MAX, world.native());
  if (lo != hi) {
    if (rank == 0) std::fprintf(stderr, "train: the ranks' parameters differ\n");
    return 1;
  }
  if (rank == 0) std::printf("params %s\n", strata::detail::to_hex(h).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  strata::comm::mpi_environment env{argc, argv};
  strata::comm::mpi world{MPI_COMM_WORLD};
  int const rank = world.rank();

  CLI::App app{"train: a data-parallel training-style loop over MPI ranks that resumes exactly (strata)"};
  settings s;
  app.add_option("--steps", s.steps, "training steps in all");
  app.add_option("--every", s.every, "checkpoint every K steps")->check(CLI::PositiveNumber);
  app.add_option("--dir", s.dir, "checkpoint directory");
  app.add_option("--params", s.params, "number of parameters")->check(CLI::PositiveNumber);
  app.add_option("--samples", s.samples, "samples in the data set (split over the ranks)");
  app.add_option("--batch", s.batch, "samples per rank per step")->check(CLI::PositiveNumber);
  app.add_option("--seed", s.seed, "seed of the per-rank std::mt19937_64 (plus the rank)");
  app.add_option("--crash-at-step", s.crash_at_step,
                 "kill --crash-rank with SIGKILL after computing this step (only in a run that did not resume)");
  app.add_option("--crash-rank", s.crash_rank, "rank to kill");
  app.add_option("--snapshot", s.snapshot, "full | incremental")->check(CLI::IsMember({"full", "incremental"}));
  app.add_flag("--async", s.async, "write checkpoints in the background");
  app.add_option("--step-delay-ms", s.step_delay_ms, "sleep this long after each step (stands for more compute)");
  app.add_flag("--quiet", s.quiet, "no progress lines");
  try {
    app.parse(argc, argv);
  } catch (CLI::ParseError const& e) {
    return rank == 0 ? app.exit(e) : 1;
  }
  if (s.samples < static_cast<std::size_t>(world.size())) {
    if (rank == 0) std::fprintf(stderr, "train: %zu samples for %d ranks: use --samples >= ranks\n", s.samples, world.size());
    return 2;
  }
  try {
    return train(world, s);
  } catch (strata::error const& e) {
    // strata's errors are collective (every rank throws the same): one line, a clean exit.
    if (rank == 0) std::fprintf(stderr, "train: error: %s\n", e.what());
    return 1;
  } catch (std::exception const& e) {
    std::fprintf(stderr, "train: rank %d: error: %s\n", rank, e.what());
    MPI_Abort(MPI_COMM_WORLD, 1);  // one rank's failure: the others may wait in a collective
  }
  return 1;
}
