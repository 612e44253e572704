// checkpoint::configuration from TOML files and STRATA_* variables (SPEC O2): every key type, the
// precedence code < file < environment, and errors that name the file, the line, the key or the variable.
#include <catch2/catch.hpp>
#include <strata/checkpoint/configuration_file.hpp>
#include <strata/comm/solo.hpp>
#include <support/files.hpp>

#include <csignal>
#include <fstream>

using namespace strata;
using namespace strata::checkpoint;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {
fs::path write(fs::path const& dir, std::string const& name, std::string const& text) {
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}
std::string error_of(std::function<void()> const& f) {
  try {
    f();
  } catch (usage_error const& e) {
    return e.what();
  }
  return "(no usage_error)";
}
environment const no_env{};
}  // namespace

TEST_CASE("configuration: a file sets keys of every type, tables and dotted keys alike", "[configuration]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfg-types"};
  auto const f = write(dir, "a.toml", R"(
directory = "/scratch/job"
async = true                       # boolean
memory_limit_bytes = 1048576       # count
lock_lease = 12                    # a number given as an integer
progress_after = inf               # a number
log_level = "info"
[snapshot]
kind = "incremental"
incremental.block_bytes = 16384
incremental.max_chain = 3
[storage]
kind = "multilevel"
multilevel = { fast = "partner", flush_every = 5, background = false }
[trigger.young_daly]
mtbf_seconds = 3600.5
[trigger]
kind = "young_daly"
[preemption]
signals = ["SIGUSR2", "TERM", "10"]
on_signal = "exit"
exit_status = 3                    # integer
[retention.keep_last]
count = 7
)");
  auto const c = load_configuration({}, f, &no_env);
  CHECK(c.directory == "/scratch/job");
  CHECK(c.async);
  CHECK(c.memory_limit_bytes == 1048576);
  CHECK(c.lock_lease_seconds == 12.0);
  CHECK(std::isinf(c.progress_after_seconds));
  CHECK(c.log_level == verbosity::info);
  CHECK(c.snapshot == "incremental");
  CHECK(c.incremental_block_bytes == 16384);
  CHECK(c.incremental_max_chain == 3);
  CHECK(c.storage == "multilevel");
  CHECK(c.multilevel_fast == "partner");
  CHECK(c.multilevel_flush_every == 5);
  CHECK_FALSE(c.multilevel_background);
  CHECK(c.trigger == "young_daly");
  CHECK(c.young_daly.mtbf_seconds == 3600.5);
  CHECK(std::vector<int>(c.preemption.signals.begin(), c.preemption.signals.end()) == std::vector<int>{SIGUSR2, SIGTERM, 10});
  CHECK(c.preemption.on_signal == preemption::action::exit);
  CHECK(c.preemption.exit_status == 3);
  CHECK(c.keep_last.count == 7);
  // A family's kind may be given as the family's value.
  auto const g = write(dir, "b.toml", "trigger = \"never\"\nsnapshot = \"compressed\"\n");
  auto const d = load_configuration({}, g, &no_env);
  CHECK(d.trigger == "never");
  CHECK(d.snapshot == "compressed");
}

TEST_CASE("configuration: code < file < environment", "[configuration]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfg-precedence"};
  configuration code;
  code.directory = "from_code";
  code.every_n.n = 11;
  code.async = true;
  code.snapshot = "compressed";
  auto const f = write(dir, "a.toml", "directory = \"from_file\"\n[trigger.every_n]\nn = 22\n[snapshot]\nkind = \"full\"\n");
  environment const env{{"STRATA_TRIGGER_EVERY_N_N", "33"}, {"STRATA_FAULT", "ignored"}, {"PATH", "/bin"}};
  auto const c = load_configuration(code, f, &env);
  CHECK(c.directory == "from_file");  // file over code
  CHECK(c.every_n.n == 33);           // environment over file
  CHECK(c.snapshot == "full");        // file over code
  CHECK(c.async);                     // code, nothing overrides it
  // STRATA_CONFIG names a file read after the one given in code.
  auto const site = write(dir, "site.toml", "directory = \"from_site\"\n");
  environment const env2{{"STRATA_CONFIG", site.string()}, {"STRATA_DIRECTORY", "from_env"}};
  environment const env1{{"STRATA_CONFIG", site.string()}};
  CHECK(load_configuration(code, f, &env1).directory == "from_site");
  CHECK(load_configuration(code, f, &env2).directory == "from_env");
  CHECK(load_configuration(code, {}, &no_env).directory == "from_code");
}

TEST_CASE("configuration: every kind of environment value", "[configuration]") {
  configuration c;
  apply_environment(c, {{"STRATA_ASYNC", "on"},
                        {"STRATA_SNAPSHOT", "incremental"},
                        {"STRATA_STORAGE", "node_local"},
                        {"STRATA_STORAGE_NODE_LOCAL_PATH", "/local/j"},
                        {"STRATA_STORAGE_NODE_LOCAL_REDUNDANCY", "partner"},
                        {"STRATA_TRIGGER", "adaptive"},
                        {"STRATA_TRIGGER_ADAPTIVE_LOW", "0.01"},
                        {"STRATA_PREEMPTION_SIGNALS", "SIGUSR1, SIGINT"},
                        {"STRATA_PREEMPTION_EXIT_STATUS", "4"},
                        {"STRATA_LOCK_LEASE", "2.5"}});
  CHECK(c.async);
  CHECK(c.snapshot == "incremental");
  CHECK(c.storage == "node_local");
  CHECK(c.node_local_path == "/local/j");
  CHECK(c.node_local_redundancy == "partner");
  CHECK(c.trigger == "adaptive");
  CHECK(c.adaptive.low == 0.01);
  CHECK(std::vector<int>(c.preemption.signals.begin(), c.preemption.signals.end()) == std::vector<int>{SIGUSR1, SIGINT});
  CHECK(c.preemption.exit_status == 4);
  CHECK(c.lock_lease_seconds == 2.5);
  apply_environment(c, {{"STRATA_PREEMPTION_SIGNALS", ""}});
  CHECK_FALSE(c.preemption.enabled());  // an empty list: pre-emption off
  CHECK(environment_variable("trigger.every_n.n") == "STRATA_TRIGGER_EVERY_N_N");
  CHECK(environment_variable("snapshot.kind") == "STRATA_SNAPSHOT");
  // Every key has a variable, and each variable names one key.
  std::set<std::string> vars;
  for (auto const& k : configuration_keys()) vars.insert(environment_variable(k));
  CHECK(vars.size() == configuration_keys().size());
}

TEST_CASE("configuration: an unknown key names the file, the line and a close match", "[configuration]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfg-unknown"};
  auto const f = write(dir, "a.toml", "directory = \"x\"\n\n[trigger.every_n]\nn = 5\nmn = 3\n");
  auto const e = error_of([&] { (void)load_configuration({}, f, &no_env); });
  CHECK_THAT(e, Contains(f.string() + ":5:"));
  CHECK_THAT(e, Contains("unknown key 'trigger.every_n.mn'"));
  CHECK_THAT(e, Contains("did you mean 'trigger.every_n.n'?"));
  auto const g = write(dir, "b.toml", "[triger]\nkind = \"never\"\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, g, &no_env); }),
             Contains(g.string() + ":1:") && Contains("unknown key 'triger'") && Contains("did you mean 'trigger'?"));
}

TEST_CASE("configuration: a bad type or value names the file, the line and the key", "[configuration]") {
  comm::solo solo;
  test::scratch_dir dir{solo, "cfg-bad"};
  auto const t = write(dir, "type.toml", "# a comment\nasync = \"yes\"\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, t, &no_env); }),
             Contains(t.string() + ":2:") && Contains("key 'async' is a string, not a boolean"));
  auto const n = write(dir, "negative.toml", "[retention.keep_last]\ncount = -1\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, n, &no_env); }),
             Contains(n.string() + ":2:") && Contains("retention.keep_last.count") && Contains("-1"));
  auto const k = write(dir, "kind.toml", "\n[snapshot]\nkind = \"delta\"\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, k, &no_env); }),
             Contains(k.string() + ":3:") && Contains("snapshot.kind") && Contains("one of full, incremental, compressed"));
  auto const z = write(dir, "zero.toml", "[trigger.every_n]\nn = 0\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, z, &no_env); }),
             Contains(z.string() + ":2:") && Contains("trigger.every_n.n") && Contains("every_n{.n = 0}"));
  auto const b = write(dir, "block.toml", "snapshot.incremental.block_bytes = 1000\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, b, &no_env); }), Contains(b.string() + ":1:") && Contains("65536"));
  auto const a = write(dir, "adaptive.toml", "[trigger.adaptive]\nmin_steps = 2000\nmax_steps = 5000\nfirst_steps = 3000\n");
  CHECK(load_configuration({}, a, &no_env).adaptive.min_steps == 2000);  // checked once the file is applied, not key by key
  auto const s = write(dir, "syntax.toml", "a = 1\n[trigger\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, s, &no_env); }), Contains(s.string() + ":2:") && Contains("not valid TOML"));
  auto const sig = write(dir, "sig.toml", "preemption.signals = [\"SIGKILL\"]\n");
  CHECK_THAT(error_of([&] { (void)load_configuration({}, sig, &no_env); }), Contains(sig.string() + ":1:") && Contains("SIGKILL"));
}

TEST_CASE("configuration: a missing file is named", "[configuration]") {
  CHECK_THAT(error_of([] { (void)load_configuration({}, "/nonexistent/strata.toml", &no_env); }),
             Contains("configuration file /nonexistent/strata.toml cannot be read"));
  environment const env{{"STRATA_CONFIG", "/nonexistent/site.toml"}};
  CHECK_THAT(error_of([&] { (void)load_configuration({}, {}, &env); }),
             Contains("/nonexistent/site.toml"));
}

TEST_CASE("configuration: an environment error names the variable", "[configuration]") {
  configuration c;
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_TRIGGER_EVERY_N_N", "ten"}}); }),
             Contains("environment variable STRATA_TRIGGER_EVERY_N_N") && Contains("\"ten\""));
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_TRIGGER_EVERY_N_N", "0"}}); }),
             Contains("environment variable STRATA_TRIGGER_EVERY_N_N") && Contains("would never checkpoint"));
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_STORAGE", "tape"}}); }),
             Contains("environment variable STRATA_STORAGE") && Contains("posix, mpiio, node_local, multilevel"));
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_ASYNC", "maybe"}}); }), Contains("STRATA_ASYNC") && Contains("boolean"));
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_LOCK_LEASE", "-1"}}); }), Contains("STRATA_LOCK_LEASE") && Contains("lock_lease"));
  // A misspelt variable under a family's prefix is refused, with the closest name.
  CHECK_THAT(error_of([&] { apply_environment(c, {{"STRATA_TRIGGER_EVERYN_N", "5"}}); }),
             Contains("STRATA_TRIGGER_EVERYN_N") && Contains("did you mean 'STRATA_TRIGGER_EVERY_N_N'?"));
  CHECK(c.every_n.n == 100);  // a source that fails changes nothing
}

TEST_CASE("configuration: set_option takes one key as text", "[configuration]") {
  configuration c;
  set_option(c, "storage.multilevel.flush_every", "3");
  CHECK(c.multilevel_flush_every == 3);
  CHECK_THAT(error_of([&] { set_option(c, "storage.multilevel.flush_evry", "3"); }),
             Contains("did you mean 'storage.multilevel.flush_every'?"));
}
