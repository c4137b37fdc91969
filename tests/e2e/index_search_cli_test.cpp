// End-to-end: `rag index`, `rag search` and `rag docs` on generated folders, run as a user runs
// them. The model is all-MiniLM-L6-v2's configuration and tokenizer with random weights: dense
// similarities mean nothing, except that a chunk's own text embeds to the chunk's own vector, so
// searching for it must find it first; lexical search (BM25) is meaningful whatever the weights.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "rag_process.h"
#include "random_model.h"
#include "test_env.h"

namespace ragkit::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class IndexSearchCli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(random_minilm_model().empty());
    base_ = make_temp_dir("ragkit-e2e-index");
    notes_ = base_ + "/notes";
    db_ = base_ + "/.ragkit";
    fs::create_directories(notes_ + "/sub");
    write_whole_file(notes_ + "/rotation.txt",
                     "Key rotation.\n"
                     "\n"
                     "Rotate the signing keys every ninety days.\n"
                     "The zebracorn procedure replaces the old key after the new one is live.\n");
    write_whole_file(notes_ + "/guide.md",
                     "# Guide\n"
                     "\n"
                     "Intro text about the service.\n"
                     "\n"
                     "## Install\n"
                     "\n"
                     "Run the installer with the quokkafish flag.\n");
    write_whole_file(notes_ + "/page.html",
                     "<html><head><title>Status page</title><style>p{}</style></head>"
                     "<body><h1>Status</h1><p>All systems nominal, said the platypod.</p>"
                     "<script>var hidden = 'wombatine';</script></body></html>");
    write_whole_file(notes_ + "/sub/deep.md", "Deep notes on capybarology.\n");
  }

  RunResult index(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"index", notes_, "--db", db_, "--model", random_minilm_model(),
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_rag(args);
  }

  json search(const std::string& query, const std::string& mode, int k = 5) {
    RunResult r = run_rag({"search", query, "--db", db_, "--mode", mode, "-k",
                           std::to_string(k), "--json"});
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    return parse_json(r);
  }

  std::string base_, notes_, db_;
};

TEST_F(IndexSearchCli, IndexesAFolderAndFindsPassagesWithTheirLines) {
  RunResult r = index();
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json s = parse_json(r);
  EXPECT_EQ(s["added"], 4) << s.dump(2);
  EXPECT_EQ(s["updated"], 0);
  EXPECT_EQ(s["removed"], 0);
  EXPECT_GT(s["chunks"].get<int>(), 0);
  EXPECT_GT(s["tokens"].get<int>(), 0);

  json hits = search("zebracorn procedure", "lexical");
  ASSERT_FALSE(hits["results"].empty()) << hits.dump(2);
  const json& top = hits["results"][0];
  EXPECT_EQ(top["path"], "notes/rotation.txt");
  EXPECT_EQ(top["rank"], 1);
  // The sentence sits on line 4 of the file; the chunk holding it must say so.
  EXPECT_LE(top["start_line"].get<int>(), 4);
  EXPECT_GE(top["end_line"].get<int>(), 4);
  EXPECT_NE(top["text"].get<std::string>().find("zebracorn"), std::string::npos);

  // Markdown keeps its heading path; HTML drops scripts and keeps the text.
  json md = search("quokkafish", "lexical");
  ASSERT_FALSE(md["results"].empty());
  EXPECT_EQ(md["results"][0]["path"], "notes/guide.md");
  EXPECT_NE(md["results"][0]["heading"].get<std::string>().find("Install"), std::string::npos)
      << md.dump(2);
  EXPECT_EQ(md["results"][0]["start_line"], 5) << md.dump(2);
  EXPECT_FALSE(search("platypod", "lexical")["results"].empty());
  EXPECT_TRUE(search("wombatine", "lexical")["results"].empty());

  // Dense: a chunk's exact text embeds to that chunk's vector, so it comes first.
  const std::string chunk_text = top["text"];
  json dense = search(chunk_text, "dense");
  ASSERT_FALSE(dense["results"].empty());
  EXPECT_EQ(dense["results"][0]["chunk_id"], top["chunk_id"]) << dense.dump(2);
  EXPECT_NEAR(dense["results"][0]["score"].get<double>(), 1.0, 1e-3);
  json hybrid = search(chunk_text, "hybrid");
  ASSERT_FALSE(hybrid["results"].empty());
  EXPECT_EQ(hybrid["results"][0]["chunk_id"], top["chunk_id"]) << hybrid.dump(2);

  // --path narrows the search to matching documents.
  RunResult only_md = run_rag({"search", "notes", "--db", db_, "--mode", "lexical", "--path",
                               "*.md", "--json"});
  ASSERT_EQ(only_md.exit_code, 0) << describe(only_md);
  const json only_md_hits = parse_json(only_md);  // the loop must not iterate a temporary
  for (const json& hit : only_md_hits["results"]) {
    EXPECT_EQ(hit["path"].get<std::string>().substr(hit["path"].get<std::string>().size() - 3),
              ".md");
  }

  // Plain output names path:lines and the heading.
  RunResult plain = run_rag({"search", "quokkafish", "--db", db_, "--mode", "lexical"});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_NE(plain.out.find("notes/guide.md:5"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("Guide > Install"), std::string::npos) << plain.out;

  RunResult docs = run_rag({"docs", "--db", db_, "--json"});
  ASSERT_EQ(docs.exit_code, 0) << describe(docs);
  EXPECT_EQ(parse_json(docs)["documents"].size(), 4u);
}

TEST_F(IndexSearchCli, ReindexingTouchesOnlyWhatChanged) {
  ASSERT_EQ(index().exit_code, 0);
  json again = parse_json(index());
  EXPECT_EQ(again["unchanged"], 4) << again.dump(2);
  EXPECT_EQ(again["added"], 0);
  EXPECT_EQ(again["chunks"], 0);  // nothing re-embedded

  // Edit one file: only it is re-embedded.
  write_whole_file(notes_ + "/rotation.txt", "Rotate keys monthly now, says the narwhalist.\n");
  json edited = parse_json(index());
  EXPECT_EQ(edited["updated"], 1) << edited.dump(2);
  EXPECT_EQ(edited["unchanged"], 3);
  EXPECT_EQ(edited["chunks"], 1);
  EXPECT_TRUE(search("zebracorn", "lexical")["results"].empty());
  EXPECT_FALSE(search("narwhalist", "lexical")["results"].empty());

  // Delete one: its chunks disappear.
  fs::remove(notes_ + "/page.html");
  json removed = parse_json(index());
  EXPECT_EQ(removed["removed"], 1) << removed.dump(2);
  EXPECT_TRUE(search("platypod", "lexical")["results"].empty());
  RunResult docs = run_rag({"docs", "--db", db_, "--json"});
  EXPECT_EQ(parse_json(docs)["documents"].size(), 3u);
}

TEST_F(IndexSearchCli, MessyFilesAreReportedAndTheRestIndexed) {
  const std::string messy = base_ + "/messy";
  fs::create_directories(messy);
  write_whole_file(messy + "/good.txt", "A perfectly ordinary sentence about lemurs.\n");
  write_whole_file(messy + "/empty.txt", "");
  write_whole_file(messy + "/binary.txt", std::string("\x7f" "ELF\0\0\0\x01\x02", 9) +
                                              std::string(4096, '\0'));
  write_whole_file(messy + "/huge.txt", std::string(3u << 20, 'a'));
  write_whole_file(messy + "/latin1.txt", "caf\xe9 au lait with ocelots\n");
  // Unreadable even for root: a link to nothing.
  ASSERT_EQ(symlink((messy + "/missing-target").c_str(), (messy + "/dangling.txt").c_str()), 0);

  RunResult r = run_rag({"index", messy, "--db", db_, "--model", random_minilm_model(), "--json",
                         "--max-file-mb", "1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  json s = parse_json(r);
  std::map<std::string, std::string> reasons;
  for (const json& skipped : s["skipped"]) reasons[skipped["path"]] = skipped["reason"];
  EXPECT_EQ(reasons["messy/binary.txt"], "binary") << s.dump(2);
  EXPECT_EQ(reasons["messy/huge.txt"], "too-large") << s.dump(2);
  EXPECT_EQ(reasons["messy/dangling.txt"], "unreadable") << s.dump(2);
  bool warned_utf8 = false, warned_empty = false;
  for (const json& w : s["warnings"]) {
    if (w["path"] == "messy/latin1.txt") warned_utf8 = true;
    if (w["path"] == "messy/empty.txt") warned_empty = true;
  }
  EXPECT_TRUE(warned_utf8) << s.dump(2);
  EXPECT_TRUE(warned_empty) << s.dump(2);
  // good, empty and latin1 are indexed (the empty file as a document without chunks).
  EXPECT_EQ(s["added"], 3) << s.dump(2);
  EXPECT_FALSE(search("lemurs", "lexical")["results"].empty());
  EXPECT_FALSE(search("ocelots", "lexical")["results"].empty());
}

TEST_F(IndexSearchCli, PdfResultsNameTheirPage) {
  // The sample PDF of the demo: two pages, the mailbox sentence on page 2.
  fs::copy_file(source_dir() + "/samples/handbook/incident-report.pdf",
                notes_ + "/incident-report.pdf");
  ASSERT_EQ(index().exit_code, 0);
  json hits = search("mailbox nobody reads", "lexical");
  ASSERT_FALSE(hits["results"].empty()) << hits.dump(2);
  const json& top = hits["results"][0];
  EXPECT_EQ(top["path"], "notes/incident-report.pdf");
  EXPECT_EQ(top["page"], 2) << hits.dump(2);
  EXPECT_GE(top["start_line"].get<int>(), 1);
  RunResult plain = run_rag({"search", "mailbox nobody reads", "--db", db_, "--mode", "lexical"});
  EXPECT_NE(plain.out.find("notes/incident-report.pdf:"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("(page 2)"), std::string::npos) << plain.out;
}

// Without an embedding model: `--model none` makes a lexical-only collection that search (BM25)
// and ask (extractive) use, each saying in one line what it skipped and how to get it.
TEST_F(IndexSearchCli, ModelNoneIndexesForWordSearchOnly) {
  RunResult r = run_rag({"index", notes_, "--db", db_, "--model", "none"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("added 4"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lexical-only (no embedding model)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--db " + db_ + " --model all-MiniLM-L6-v2` adds dense search in place"),
            std::string::npos)
      << r.out;

  RunResult plain = run_rag({"search", "zebracorn procedure", "--db", db_});
  ASSERT_EQ(plain.exit_code, 0) << describe(plain);
  EXPECT_NE(plain.err.find("searching by words (BM25)"), std::string::npos) << plain.err;
  EXPECT_NE(plain.out.find("notes/rotation.txt"), std::string::npos) << plain.out;
  EXPECT_EQ(search("quokkafish", "lexical")["results"][0]["path"], "notes/guide.md");
  RunResult dense = run_rag({"search", "quokkafish", "--db", db_, "--mode", "dense"});
  EXPECT_EQ(dense.exit_code, 1);
  EXPECT_NE(dense.err.find("lexical-only"), std::string::npos) << dense.err;

  RunResult ask = run_rag({"ask", "What does the zebracorn procedure replace?", "--db", db_,
                           "--json"});
  ASSERT_EQ(ask.exit_code, 0) << describe(ask);
  const json answer = parse_json(ask);
  EXPECT_EQ(answer["kind"], "extractive");
  EXPECT_NE(answer["answer"].get<std::string>().find("replaces the old key"), std::string::npos)
      << answer.dump(2);

  // Re-indexing keeps it lexical-only.
  RunResult again = run_rag({"index", notes_, "--db", db_, "--json"});
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_EQ(parse_json(again)["unchanged"], 4);
}

// A lexical-only collection indexed later with a model gets vectors in place: the same chunks
// (ids, texts), now searchable by meaning, and the files added meanwhile indexed with them.
TEST_F(IndexSearchCli, ModelAddsVectorsToALexicalOnlyCollectionInPlace) {
  ASSERT_EQ(run_rag({"index", notes_, "--db", db_, "--model", "none"}).exit_code, 0);
  const json lexical = search("zebracorn procedure", "lexical");
  RunResult exported = run_rag({"docs", "--db", db_, "--json"});
  ASSERT_EQ(exported.exit_code, 0) << describe(exported);
  const json docs_before = parse_json(exported);
  write_whole_file(notes_ + "/later.md", "# Later\n\nThe quokkafish migration happens at dawn.\n");

  RunResult upgrade = run_rag({"index", notes_, "--db", db_, "--model", random_minilm_model(),
                               "--json"});
  ASSERT_EQ(upgrade.exit_code, 0) << describe(upgrade);
  const json summary = parse_json(upgrade);
  EXPECT_GT(summary["vectors_added"]["chunks"].get<int>(), 0) << summary.dump(2);
  EXPECT_EQ(summary["vectors_added"]["embedded"], summary["vectors_added"]["chunks"]);
  EXPECT_EQ(summary["unchanged"], 4) << "nothing re-read, re-chunked or replaced";
  EXPECT_EQ(summary["added"], 1);
  EXPECT_NE(upgrade.err.find("adding vectors of model"), std::string::npos) << upgrade.err;

  // The old documents are the same records (ids and chunk counts); lexical search is unchanged.
  RunResult after = run_rag({"docs", "--db", db_, "--json"});
  ASSERT_EQ(after.exit_code, 0) << describe(after);
  const json docs_after = parse_json(after);
  for (const json& before : docs_before["documents"]) {
    bool found = false;
    for (const json& now : docs_after["documents"]) {
      if (now["path"] != before["path"]) continue;
      found = true;
      EXPECT_EQ(now, before) << before["path"];
    }
    EXPECT_TRUE(found) << before["path"];
  }
  const json lexical_after = search("zebracorn procedure", "lexical");
  ASSERT_EQ(lexical_after["results"].size(), lexical["results"].size());
  for (size_t i = 0; i < lexical["results"].size(); ++i) {  // scores moved: one more document
    EXPECT_EQ(lexical_after["results"][i]["chunk_id"], lexical["results"][i]["chunk_id"]);
    EXPECT_EQ(lexical_after["results"][i]["text"], lexical["results"][i]["text"]);
  }
  // Dense and hybrid search work, with no note about a lexical-only collection.
  RunResult dense = run_rag({"search", "quokkafish", "--db", db_, "--mode", "dense", "--json"});
  ASSERT_EQ(dense.exit_code, 0) << describe(dense);
  EXPECT_FALSE(parse_json(dense)["results"].empty()) << dense.out;
  RunResult hybrid = run_rag({"search", "zebracorn procedure", "--db", db_});
  ASSERT_EQ(hybrid.exit_code, 0) << describe(hybrid);
  EXPECT_EQ(hybrid.err.find("BM25"), std::string::npos) << hybrid.err;
  EXPECT_NE(hybrid.out.find("notes/rotation.txt"), std::string::npos) << hybrid.out;

  // Again: nothing to do; --model none now refused (it holds vectors).
  RunResult again = run_rag({"index", notes_, "--db", db_, "--json"});
  ASSERT_EQ(again.exit_code, 0) << describe(again);
  EXPECT_FALSE(parse_json(again).contains("vectors_added"));
  EXPECT_EQ(parse_json(again)["unchanged"], 5);
  RunResult none = run_rag({"index", notes_, "--db", db_, "--model", "none"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("holds vectors of model"), std::string::npos) << none.err;
}

TEST_F(IndexSearchCli, ClearErrors) {
  RunResult no_db = run_rag({"search", "anything", "--db", base_ + "/nowhere", "--mode",
                             "lexical"});
  EXPECT_EQ(no_db.exit_code, 1);
  EXPECT_NE(no_db.err.find("rag index"), std::string::npos) << describe(no_db);

  RunResult no_folder = run_rag({"index", base_ + "/absent", "--db", db_, "--model",
                                 random_minilm_model()});
  EXPECT_EQ(no_folder.exit_code, 1);
  EXPECT_NE(no_folder.err.find("not a folder"), std::string::npos) << describe(no_folder);

  RunResult too_long = run_rag({"index", notes_, "--db", db_, "--model", random_minilm_model(),
                                "--chunk-tokens", "100000"});
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_NE(too_long.err.find("--chunk-tokens"), std::string::npos) << describe(too_long);

  RunResult no_model = run_rag({"index", notes_, "--db", db_, "--model", "no-such-model"});
  EXPECT_EQ(no_model.exit_code, 1);
  EXPECT_NE(no_model.err.find("not found"), std::string::npos) << describe(no_model);
}

}  // namespace
}  // namespace ragkit::testing
