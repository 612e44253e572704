#pragma once
/// \file
/// \brief The collectives `node_local` moves copies with: gathers of every rank's words or text, and
/// a plan of point-to-point transfers posted at once.

#include <strata/comm/mpi.hpp>
#include <strata/error.hpp>

#include <mpi.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::storage::detail {

/// \brief One move of bytes from rank `from` to rank `to` (the same rank: a local copy).
struct transfer {
  int from, to;
  std::uint64_t tag;
};

/// \brief How many items every rank contributes to a gather, and where each rank's part starts.
struct gather_layout {
  std::vector<int> counts, displs;
  int total = 0;
};

/// \brief Collective: the layout of a gather in which this rank contributes `n` items.
inline gather_layout gather_counts(comm::mpi const& c, int n) {
  auto const size = static_cast<std::size_t>(c.size());
  gather_layout l{std::vector<int>(size), std::vector<int>(size), 0};
  MPI_Allgather(&n, 1, MPI_INT, l.counts.data(), 1, MPI_INT, c.native());
  for (std::size_t q = 0; q < size; ++q) {
    l.displs[q] = l.total;
    l.total += l.counts[q];
  }
  return l;
}

/// \brief Collective: every rank's words, concatenated in rank order, on every rank (and, if asked,
/// how many each sent).
inline std::vector<std::uint64_t> all_gatherv(comm::mpi const& c, std::vector<std::uint64_t> const& mine,
                                              std::vector<int>* counts_out = nullptr) {
  int const n = static_cast<int>(mine.size());
  auto l = gather_counts(c, n);
  std::vector<std::uint64_t> all(static_cast<std::size_t>(l.total));
  MPI_Allgatherv(mine.data(), n, MPI_UINT64_T, all.data(), l.counts.data(), l.displs.data(), MPI_UINT64_T, c.native());
  if (counts_out) *counts_out = std::move(l.counts);
  return all;
}

/// \brief Collective: every rank's text, on every rank.
inline std::vector<std::string> all_gatherv_text(comm::mpi const& c, std::string const& mine) {
  int const n = static_cast<int>(mine.size());
  auto const l = gather_counts(c, n);
  std::string all(static_cast<std::size_t>(l.total), '\0');
  MPI_Allgatherv(mine.data(), n, MPI_CHAR, all.data(), l.counts.data(), l.displs.data(), MPI_CHAR, c.native());
  std::vector<std::string> out;
  for (std::size_t q = 0; q < l.counts.size(); ++q)
    out.push_back(all.substr(static_cast<std::size_t>(l.displs[q]), static_cast<std::size_t>(l.counts[q])));
  return out;
}

/// \brief Collective: `text` as rank `root` holds it, on every rank.
inline void broadcast_text(comm::mpi const& c, std::string& text, int root) {
  std::uint64_t len = text.size();
  MPI_Bcast(&len, 1, MPI_UINT64_T, root, c.native());
  text.resize(static_cast<std::size_t>(len));
  c.broadcast(std::as_writable_bytes(std::span(text)), root);
}

/// \brief Collective over the ranks the plan names: point-to-point transfers on `c`, all posted at
/// once (sizes first). `source(t)` gives the bytes this rank sends for `t`; `sink(t, bytes)` takes
/// what it receives. `who` ("rank R on HOST") names this rank if a transfer fails.
template <class Source, class Sink>
void exchange(comm::mpi const& c, std::string_view who, std::vector<transfer> const& plan, Source&& source, Sink&& sink) {
  int const rank = c.rank();
  MPI_Comm const comm = c.native();
  constexpr int tag_size = 7401, tag_data = 7402;
  std::vector<MPI_Request> reqs;
  std::vector<std::uint64_t> out_sizes, in_sizes;
  out_sizes.reserve(plan.size());
  in_sizes.assign(plan.size(), 0);
  std::vector<std::span<const std::byte>> outs;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    auto const& t = plan[i];
    if (t.from == rank && t.to == rank) {
      auto const b = source(t);
      sink(t, std::vector<std::byte>(b.begin(), b.end()));
      continue;
    }
    if (t.from == rank) {
      outs.push_back(source(t));
      out_sizes.push_back(outs.back().size());
      reqs.emplace_back();
      MPI_Isend(&out_sizes.back(), 1, MPI_UINT64_T, t.to, tag_size, comm, &reqs.back());
    } else if (t.to == rank) {
      reqs.emplace_back();
      MPI_Irecv(&in_sizes[i], 1, MPI_UINT64_T, t.from, tag_size, comm, &reqs.back());
    }
  }
  MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE);
  reqs.clear();
  std::vector<std::vector<std::byte>> ins(plan.size());
  constexpr std::size_t chunk = std::size_t{1} << 30;
  std::size_t o = 0;
  for (std::size_t i = 0; i < plan.size(); ++i) {
    auto const& t = plan[i];
    if (t.from == rank && t.to == rank) continue;
    if (t.from == rank) {
      auto const b = outs[o++];
      for (std::size_t off = 0; off < b.size(); off += chunk) {
        reqs.emplace_back();
        MPI_Isend(b.data() + off, static_cast<int>(std::min(chunk, b.size() - off)), MPI_BYTE, t.to, tag_data, comm,
                  &reqs.back());
      }
    } else if (t.to == rank) {
      ins[i].resize(static_cast<std::size_t>(in_sizes[i]));
      for (std::size_t off = 0; off < ins[i].size(); off += chunk) {
        reqs.emplace_back();
        MPI_Irecv(ins[i].data() + off, static_cast<int>(std::min(chunk, ins[i].size() - off)), MPI_BYTE, t.from,
                  tag_data, comm, &reqs.back());
      }
    }
  }
  if (MPI_Waitall(static_cast<int>(reqs.size()), reqs.data(), MPI_STATUSES_IGNORE) != MPI_SUCCESS)
    throw checkpoint_error(std::string(who) + ": node-local level transfer failed");
  for (std::size_t i = 0; i < plan.size(); ++i)
    if (plan[i].to == rank && plan[i].from != rank) sink(plan[i], std::move(ins[i]));
}

}  // namespace strata::storage::detail
