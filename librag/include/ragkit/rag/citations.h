// Citations: which numbered sources an answer cites. Recognised forms: "[2]", "[1][3]",
// "[1, 3]", "[1,3]", "[1-3]" (a range), "[Source 2]"; numbers outside 1..n_sources are not
// citations (a year in brackets, "[2024]", is text). Returned sorted, without repeats.
//
// Thread-safety: a pure function.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace ragkit::rag {

std::vector<size_t> find_citations(std::string_view answer, size_t n_sources);

}  // namespace ragkit::rag
