#include "kata-ctl/go_flags.h"

#include <gtest/gtest.h>

namespace kata::ctl {
namespace {

struct Flags {
  std::string bundle;
  bool detach = false;
  long long fds = 0;
  std::vector<std::string> env;
  std::vector<long long> gids;
  std::string interval = "5s";
  std::vector<std::string> positionals;
};

std::unique_ptr<CLI::App> app(Flags& f) {
  auto a = std::make_unique<CLI::App>();
  a->set_help_flag();
  addStringFlag(*a, "-b,--bundle", f.bundle, "bundle");
  addBoolFlag(*a, "-d,--detach", f.detach, "detach");
  addIntFlag(*a, "--preserve-fds", f.fds, "fds");
  addStringSliceFlag(*a, "-e,--env", f.env, "env");
  addInt64SliceFlag(*a, "-g,--additional-gids", f.gids, "gids");
  addDurationFlag(*a, "--interval", f.interval, "interval");
  a->add_option("args", f.positionals)->group("");
  return a;
}

// Parses like the CLI does and returns the positionals.
std::vector<std::string> parse(Flags& f, std::vector<std::string> args, bool reorder = true) {
  auto a = app(f);
  auto r = parseGoFlags(*a, args, reorder);
  auto canonical = r.canonical;
  if (!r.rest.empty()) {
    canonical.push_back("--");
    canonical.insert(canonical.end(), r.rest.begin(), r.rest.end());
  }
  applyCanonical(*a, canonical);
  return f.positionals;
}

std::string error(std::vector<std::string> args, bool reorder = true) {
  Flags f;
  try {
    parse(f, std::move(args), reorder);
  } catch (const FlagError& e) {
    return e.what();
  }
  return "";
}

TEST(GoFlags, OneOrTwoDashesShortOrLongEqualsOrSeparate) {
  for (auto args : std::vector<std::vector<std::string>>{{"-b", "/x", "id"}, {"--b", "/x", "id"},
                                                         {"-bundle", "/x", "id"}, {"--bundle=/x", "id"},
                                                         {"-bundle=/x", "id"}, {"id", "--bundle", "/x"}}) {
    Flags f;
    EXPECT_EQ(parse(f, args), std::vector<std::string>{"id"});
    EXPECT_EQ(f.bundle, "/x");
  }
}

TEST(GoFlags, BoolFlagsTakeNoValueButAcceptEquals) {
  Flags f;
  EXPECT_EQ(parse(f, {"-d", "id"}), std::vector<std::string>{"id"});
  EXPECT_TRUE(f.detach);
  Flags g;
  parse(g, {"--detach=true", "--detach=false", "id"});
  EXPECT_FALSE(g.detach);
  EXPECT_EQ(error({"--detach=maybe", "id"}), "invalid boolean value \"maybe\" for -detach: parse error");
}

TEST(GoFlags, ValuesThatLookLikeFlagsOrAreEmpty) {
  Flags f;
  parse(f, {"--bundle", "-x", "--env", "A=-1", "id"});
  EXPECT_EQ(f.bundle, "-x");
  Flags g;
  EXPECT_EQ(parse(g, {"--bundle", "-x", "--bundle=", "--env", "", "id"}), std::vector<std::string>{"id"});
  EXPECT_EQ(g.bundle, "");
  EXPECT_EQ(g.env, std::vector<std::string>{""});
  EXPECT_EQ(f.env, std::vector<std::string>{"A=-1"});
}

TEST(GoFlags, SlicesRepeatScalarsLastWins) {
  Flags f;
  parse(f, {"-e", "A=1", "--env=B=2", "-g", "0x10", "-g", "7", "--preserve-fds", "1", "--preserve-fds", "0x3", "id"});
  EXPECT_EQ(f.env, (std::vector<std::string>{"A=1", "B=2"}));
  EXPECT_EQ(f.gids, (std::vector<long long>{16, 7}));
  EXPECT_EQ(f.fds, 3);
}

TEST(GoFlags, ReorderMovesKnownFlagsOnly) {
  Flags f;
  // urfave/cli v1 moves declared flags before the positionals; an undeclared "-9" stays an argument.
  EXPECT_EQ(parse(f, {"id", "-9", "-d"}), (std::vector<std::string>{"id", "-9"}));
  EXPECT_TRUE(f.detach);
}

TEST(GoFlags, WithoutReorderEverythingAfterTheFirstArgumentIsPositional) {
  Flags f;
  EXPECT_EQ(parse(f, {"-d", "id", "ls", "-l", "--bundle", "x"}, /*reorder=*/false),
            (std::vector<std::string>{"id", "ls", "-l", "--bundle", "x"}));
  EXPECT_TRUE(f.detach);
  EXPECT_EQ(f.bundle, "");
}

TEST(GoFlags, DoubleDashEndsFlags) {
  Flags f;
  EXPECT_EQ(parse(f, {"--", "-d"}), std::vector<std::string>{"-d"});
  EXPECT_FALSE(f.detach);
}

TEST(GoFlags, ErrorsInGoWording) {
  EXPECT_EQ(error({"--foo", "id"}), "flag provided but not defined: -foo");
  EXPECT_EQ(error({"-dt", "id"}), "flag provided but not defined: -dt");
  EXPECT_EQ(error({"--bundle"}), "flag needs an argument: -bundle");
  EXPECT_EQ(error({"--preserve-fds", "x", "id"}), "invalid value \"x\" for flag -preserve-fds: parse error");
  EXPECT_EQ(error({"--interval", "5x", "id"}), "invalid value \"5x\" for flag -interval: parse error");
  EXPECT_EQ(error({"---x", "id"}), "bad flag syntax: ---x");
  EXPECT_EQ(error({"-g", "a", "id"}),
            "invalid value \"a\" for flag -g: strconv.ParseInt: parsing \"a\": invalid syntax");
}

TEST(GoFlags, HelpIsReportedNotAnError) {
  Flags f;
  auto a = app(f);
  EXPECT_TRUE(parseGoFlags(*a, {"-h"}, true).help);
  EXPECT_TRUE(parseGoFlags(*a, {"id", "--help"}, true).help == false);  // not declared: not reordered
}

}  // namespace
}  // namespace kata::ctl
