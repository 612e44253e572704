// dag::detail::flow_mismatch: what differs between a saved cut and a flow, in words (no MPI).
#include <catch2/catch.hpp>

#include <strata/dag/resume.hpp>

using strata::dag::detail::flow_cut_header;
using strata::dag::detail::flow_mismatch;
using strata::dag::detail::handle_line;

TEST_CASE("flow_mismatch: equal flows match, each difference is named", "[dag][resume]") {
  std::string const hs = handle_line("a", 64, 0) + handle_line("b", 32, 1);
  flow_cut_header const now{10, 2, 2, 0};
  CHECK(flow_mismatch({10, 2, 2, 6}, hs, now, hs).empty());
  CHECK(flow_mismatch({12, 2, 2, 6}, hs, now, hs) == "the checkpoint holds a flow of 12 tasks, this flow has 10");
  CHECK(flow_mismatch({10, 4, 2, 6}, hs, now, hs) == "the checkpoint was written by 4 ranks, this run has 2");
  CHECK(flow_mismatch({10, 2, 3, 6}, hs, now, hs) == "the checkpoint holds 3 handles, this flow registered 2");
  CHECK(flow_mismatch({10, 2, 2, 11}, hs, now, hs) == "the saved cut 11 is past the flow's 10 tasks");
  CHECK(flow_mismatch({10, 2, 2, 6}, handle_line("a", 64, 0) + handle_line("b", 32, 0), now, hs) ==
        "handle #1 was 'b 32 0' (name bytes home), this flow's is 'b 32 1'");
  CHECK(flow_mismatch({10, 2, 2, 6}, handle_line("a", 8, 0) + handle_line("b", 32, 1), now, hs) ==
        "handle #0 was 'a 8 0' (name bytes home), this flow's is 'a 64 0'");
}

TEST_CASE("resume_error carries directory, version and difference", "[dag][resume]") {
  strata::dag::resume_error const e("ckpt", 7, "the checkpoint holds a flow of 12 tasks, this flow has 10");
  CHECK(e.directory() == "ckpt");
  CHECK(e.version() == 7u);
  CHECK(std::string(e.what()).find("cannot resume from 'ckpt' version 7: the checkpoint holds") != std::string::npos);
  STATIC_REQUIRE(std::is_base_of_v<strata::restore_error, strata::dag::resume_error>);
}
