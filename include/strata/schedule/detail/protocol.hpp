#pragma once
/// \file
/// \brief The dispatcher's wire protocol (SPEC S3): message tags and their encoding. Not API, but stable
/// enough for tests to forge messages.

#include <strata/schedule/task.hpp>
#include <strata/state/serializer.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace strata::schedule::detail {

/// Message tags, in a range the application is unlikely to use (strata duplicates the communicator anyway).
enum tag : int {
  tag_assign = 7301,       ///< rank 0 -> worker: run this task
  tag_result = 7302,       ///< worker -> rank 0: outcome of a task, with a per-worker sequence number
  tag_heartbeat = 7303,    ///< worker -> rank 0: alive, with status
  tag_query = 7304,        ///< any -> rank 0: how long is the queue?
  tag_query_reply = 7305,  ///< rank 0 -> asker
  tag_shutdown = 7306,     ///< rank 0 -> worker: no more work
  tag_bye = 7307,          ///< worker -> rank 0, its last message: its heartbeats have stopped, nothing follows
  tag_hello = 7308,        ///< worker -> rank 0, its first message: the host it runs on
};

/// Requests from rank 0 (assignments, the shutdown) start with a per-worker sequence number; the worker
/// applies them in that order and drops repeats (SPEC R10c).
struct assign_msg {
  std::uint64_t seq = 0;
  task_id id = 0;
  std::uint32_t attempt = 0;
  std::vector<std::byte> payload;
};

struct result_msg {
  std::uint64_t seq = 0;      ///< strictly increasing per worker: a repeat is a duplicate
  task_id id = 0;
  std::uint32_t attempt = 0;  ///< which attempt this answers; an old attempt's answer is stale
  bool ok = false;
  double elapsed_s = 0.0;
  std::string error;
  std::vector<std::byte> result;
};

/// A task's final outcome, as the router reports it and the write-ahead log records it.
enum class outcome : std::uint8_t { succeeded = 1, failed = 2 };

/// The result-size limit, the one place it is checked (on the worker before sending, on rank 0 on receipt):
/// a result over `max_bytes` turns the answer into a failed attempt. \returns true when it was over.
inline bool enforce_result_limit(result_msg& r, std::size_t max_bytes) {
  if (r.result.size() <= max_bytes) return false;
  r.ok = false;
  r.error = "result of " + std::to_string(r.result.size()) + " bytes exceeds max_result_bytes " +
            std::to_string(max_bytes);
  r.result.clear();
  return true;
}

struct heartbeat_msg {
  std::uint64_t seq = 0;
  std::uint32_t queue_length = 0;
  std::uint64_t free_memory = 0;
  std::uint64_t total_memory = 0;
  double recent_latency_s = 0.0;
};

/// What a queue query answers.
struct queue_counts {
  std::uint64_t pending = 0;
  std::uint64_t running = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t workers_alive = 0;
  friend bool operator==(queue_counts const&, queue_counts const&) = default;
};

/// A request's body with its sequence number in front: what goes on the wire.
inline std::vector<std::byte> frame(std::uint64_t seq, std::span<const std::byte> body) {
  std::vector<std::byte> out;
  out.reserve(sizeof seq + body.size());
  byte_writer{out}.value(seq);
  out.insert(out.end(), body.begin(), body.end());
  return out;
}
/// An assignment's body (everything but the sequence number).
inline std::vector<std::byte> assign_body(task_id id, std::uint32_t attempt, std::span<const std::byte> payload) {
  std::vector<std::byte> out;
  byte_writer w{out};
  w.value(id);
  w.value(attempt);
  w.range(payload);
  return out;
}
inline std::vector<std::byte> encode(assign_msg const& m) { return frame(m.seq, assign_body(m.id, m.attempt, m.payload)); }
inline std::vector<std::byte> encode(result_msg const& m) {
  std::vector<std::byte> out;
  byte_writer w{out};
  w.value(m.seq);
  w.value(m.id);
  w.value(m.attempt);
  w.value(static_cast<std::uint8_t>(m.ok));
  w.value(m.elapsed_s);
  w.range(m.error);
  w.range(m.result);
  return out;
}
inline std::vector<std::byte> encode(heartbeat_msg const& m) {
  std::vector<std::byte> out;
  byte_writer w{out};
  w.value(m.seq);
  w.value(m.queue_length);
  w.value(m.free_memory);
  w.value(m.total_memory);
  w.value(m.recent_latency_s);
  return out;
}
inline std::vector<std::byte> encode(queue_counts const& m) {
  std::vector<std::byte> out;
  byte_writer{out}.value(m);
  return out;
}

/// Decoders throw `strata::error` on a short or over-long message.
inline void finish(byte_reader const& r, char const* what) {
  if (!r.done()) throw error(std::string(what) + " message has " + std::to_string(r.remaining()) + " trailing bytes");
}
inline assign_msg decode_assign(std::span<const std::byte> b) {
  byte_reader r{b};
  assign_msg m;
  r.value(m.seq);
  r.value(m.id);
  r.value(m.attempt);
  r.range(m.payload);
  finish(r, "assign");
  return m;
}
/// The sequence number of a request without further body (the shutdown).
inline std::uint64_t decode_request_seq(std::span<const std::byte> b) {
  byte_reader r{b};
  auto const seq = r.value<std::uint64_t>();
  finish(r, "request");
  return seq;
}
inline result_msg decode_result(std::span<const std::byte> b) {
  byte_reader r{b};
  result_msg m;
  r.value(m.seq);
  r.value(m.id);
  r.value(m.attempt);
  m.ok = r.value<std::uint8_t>() != 0;
  r.value(m.elapsed_s);
  r.range(m.error);
  r.range(m.result);
  finish(r, "result");
  return m;
}
inline heartbeat_msg decode_heartbeat(std::span<const std::byte> b) {
  byte_reader r{b};
  heartbeat_msg m;
  r.value(m.seq);
  r.value(m.queue_length);
  r.value(m.free_memory);
  r.value(m.total_memory);
  r.value(m.recent_latency_s);
  finish(r, "heartbeat");
  return m;
}
inline queue_counts decode_counts(std::span<const std::byte> b) {
  byte_reader r{b};
  queue_counts m;
  r.value(m);
  finish(r, "query reply");
  return m;
}

}  // namespace strata::schedule::detail
