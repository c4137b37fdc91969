// "Allocate once, run many times": after a warm-up batch, forward passes over batches no larger
// than it allocate nothing, and neither does a generator's decode step. Counted by tests/support's replacement of the global operator new.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "allocation_counter.h"
#include "random_model.h"
#include "ragkit/embed/generator.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/transformer.h"
#include "test_env.h"

namespace ragkit::embed {
namespace {

TEST(TransformerAllocation, NoAllocationAfterWarmUp) {
  const std::string models = testing::models_dir();
  ASSERT_FALSE(models.empty());
  const std::string dir = testing::make_temp_dir("ragkit-alloc");
  ASSERT_TRUE(testing::make_random_bert_model(models + "/all-MiniLM-L6-v2", dir).ok());
  auto model = Model::load(dir);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ThreadPool pool(2);
  Transformer tf(**model, pool);

  // Two sequences of 40 and 24 tokens, packed.
  std::vector<TokenId> tokens;
  std::vector<int32_t> positions;
  for (int i = 0; i < 64; ++i) {
    tokens.push_back(1000 + i);
    positions.push_back(i < 40 ? i : i - 40);
  }
  std::vector<SequenceSpan> spans = {{0, 40}, {40, 24}};
  ASSERT_TRUE(tf.forward(tokens, positions, spans).ok());  // warm-up
  std::vector<SequenceSpan> one = {{0, 40}};

  const long before = testing::allocation_count();
  // RAGKIT_TRAP_ALLOCATION=1 under a debugger stops at the offending allocation.
  testing::trap_on_allocation(std::getenv("RAGKIT_TRAP_ALLOCATION") != nullptr);
  for (int round = 0; round < 3; ++round) {
    auto out = tf.forward(tokens, positions, spans);
    ASSERT_TRUE(out.ok());
  }
  // A smaller batch fits the same workspace.
  ASSERT_TRUE(tf.forward(std::span(tokens).first(40), std::span(positions).first(40), one).ok());
  testing::trap_on_allocation(false);
  EXPECT_EQ(testing::allocation_count() - before, 0);
}

}  // namespace
}  // namespace ragkit::embed

namespace ragkit::embed {
namespace {

// The decode loop of the generator: once the prompt is in the cache, each new token's forward
// pass, LM head and greedy choice allocate nothing.
TEST(GeneratorAllocation, DecodingAllocatesNothingPerToken) {
  const std::string models = testing::models_dir();
  ASSERT_FALSE(models.empty());
  auto model = Model::load(models + "/stories260K/stories260K.gguf");
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  ThreadPool pool(2);
  auto gen = Generator::create(**model, pool, {.n_ctx = 128});
  ASSERT_TRUE(gen.ok()) << gen.status().to_string();
  const std::vector<TokenId> prompt = (*model)->tokenizer().encode_prompt("Once upon a time");
  auto logits = (*gen)->feed(prompt);
  ASSERT_TRUE(logits.ok());
  TokenId next = 0;
  const long allocations = testing::allocations_during([&] {
    for (int i = 0; i < 40 && logits.ok(); ++i) {
      next = static_cast<TokenId>(std::max_element(logits->begin(), logits->end()) - logits->begin());
      logits = (*gen)->feed(std::span(&next, 1));
    }
  });
  ASSERT_TRUE(logits.ok()) << logits.status().to_string();
  EXPECT_EQ(allocations, 0);
  EXPECT_EQ((*gen)->n_past(), static_cast<int64_t>(prompt.size()) + 40);
}

}  // namespace
}  // namespace ragkit::embed
