// Counts heap allocations, for the tests that prove a hot path allocates nothing after warm-up
// ("allocate once, run many times"). Linking ragkit_test_support replaces the global operator new
// (all forms) for the whole test binary with a counting one; the counter is shared, so any test
// file can use it.
#pragma once

namespace ragkit::testing {

// operator new calls so far, from every thread.
long allocation_count();

// Runs body() and returns how many allocations happened meanwhile (any thread).
template <typename Body>
long allocations_during(Body&& body) {
  const long before = allocation_count();
  body();
  return allocation_count() - before;
}

// While set, an allocation traps (__builtin_trap), so a debugger stops at the culprit.
void trap_on_allocation(bool on);

}  // namespace ragkit::testing
