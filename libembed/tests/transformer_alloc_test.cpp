// "Allocate once, run many times": after a warm-up batch, forward passes over batches no larger
// than it allocate nothing. Counted by replacing the global operator new for this test binary.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "random_model.h"
#include "ragkit/embed/model.h"
#include "ragkit/embed/transformer.h"
#include "test_env.h"

namespace {
std::atomic<long> g_allocations{0};
std::atomic<bool> g_trap{false};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (g_trap.load()) __builtin_trap();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
// The nothrow forms too: the library frees what they return through the operator delete below,
// so all of them must come from malloc (ASan checks the pairing).
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

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

  const long before = g_allocations.load();
  // RAGKIT_TRAP_ALLOCATION=1 under a debugger stops at the offending allocation.
  g_trap = std::getenv("RAGKIT_TRAP_ALLOCATION") != nullptr;
  for (int round = 0; round < 3; ++round) {
    auto out = tf.forward(tokens, positions, spans);
    ASSERT_TRUE(out.ok());
  }
  // A smaller batch fits the same workspace.
  ASSERT_TRUE(tf.forward(std::span(tokens).first(40), std::span(positions).first(40), one).ok());
  EXPECT_EQ(g_allocations.load() - before, 0);
}

}  // namespace
}  // namespace ragkit::embed
