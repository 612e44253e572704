#pragma once
/// \file
/// \brief `metrics::registry`: named metrics, rendered in the Prometheus text exposition format (SPEC S1, S7).

#include <strata/error.hpp>
#include <strata/metrics/counters.hpp>

#include <cmath>
#include <cstdio>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace strata::metrics {

/// \brief Owns named metrics; references it hands out stay valid for its lifetime.
///
/// \code
/// strata::metrics::registry reg;
/// auto& done = reg.counter("strata_tasks_completed_total", "Tasks that succeeded");
/// done.add();
/// std::string text = reg.prometheus_text();
/// \endcode
class registry {
 public:
  registry() = default;
  registry(registry const&) = delete;
  registry& operator=(registry const&) = delete;

  /// \brief The counter called `name`, created on first use.
  metrics::counter& counter(std::string const& name, std::string help = {}) {
    return get<metrics::counter>(name, std::move(help), "counter", counters_);
  }
  /// \brief The gauge called `name`, created on first use.
  metrics::gauge& gauge(std::string const& name, std::string help = {}) {
    return get<metrics::gauge>(name, std::move(help), "gauge", gauges_);
  }
  /// \brief The histogram called `name`, created on first use with `bounds`.
  metrics::histogram& histogram(std::string const& name, std::string help = {},
                                std::vector<double> bounds = histogram::exponential(1e-6, 4.0, 14)) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(name); it != index_.end()) {
      if (it->second.kind != "histogram") throw usage_error("metrics: '" + name + "' is already a " + it->second.kind);
      return histograms_[it->second.slot];
    }
    check_name(name);
    histograms_.emplace_back(std::move(bounds));
    index_.emplace(name, entry{"histogram", std::move(help), histograms_.size() - 1});
    return histograms_.back();
  }

  /// \brief Every metric in the Prometheus text format (version 0.0.4), sorted by name.
  [[nodiscard]] std::string prometheus_text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (auto const& [name, e] : index_) {
      if (!e.help.empty()) out += "# HELP " + name + " " + e.help + "\n";
      out += "# TYPE " + name + " " + e.kind + "\n";
      if (e.kind == "counter") {
        out += name + " " + number(counters_[e.slot].value()) + "\n";
      } else if (e.kind == "gauge") {
        out += name + " " + number(gauges_[e.slot].value()) + "\n";
      } else {
        auto const& h = histograms_[e.slot];
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.bounds().size(); ++i) {
          cumulative += h.bucket(i);
          out += name + "_bucket{le=\"" + number(h.bounds()[i]) + "\"} " + std::to_string(cumulative) + "\n";
        }
        cumulative += h.bucket(h.bounds().size());
        out += name + "_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
        out += name + "_sum " + number(h.sum()) + "\n";
        out += name + "_count " + std::to_string(cumulative) + "\n";
      }
    }
    return out;
  }

 private:
  struct entry {
    std::string kind;
    std::string help;
    std::size_t slot;
  };
  static void check_name(std::string const& name) {
    bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
    for (char c : name)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == ':');
    if (!ok) throw usage_error("metrics: '" + name + "' is not a valid Prometheus metric name");
  }
  static std::string number(double v) {
    if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
    if (std::isnan(v)) return "NaN";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    return buf;
  }
  template <class M, class Store>
  M& get(std::string const& name, std::string help, std::string const& kind, Store& store) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(name); it != index_.end()) {
      if (it->second.kind != kind) throw usage_error("metrics: '" + name + "' is already a " + it->second.kind);
      return store[it->second.slot];
    }
    check_name(name);
    store.emplace_back();
    index_.emplace(name, entry{kind, std::move(help), store.size() - 1});
    return store.back();
  }

  mutable std::mutex mutex_;
  std::map<std::string, entry> index_;
  std::deque<metrics::counter> counters_;
  std::deque<metrics::gauge> gauges_;
  std::deque<metrics::histogram> histograms_;
};

}  // namespace strata::metrics
