// rocksdb::Status -> ragkit Status, at the point RocksDB's result enters our code (the store
// and the lexical index both use it).
//
// Thread-safety: a pure function.
#pragma once

#include <rocksdb/status.h>

#include <string_view>

#include "ragkit/common/status.h"

namespace ragkit::retrieval {

// ok stays ok; otherwise "<doing>: <RocksDB's message>" with the closest ragkit code. A failed
// lock adds "(is another process writing this collection?)".
Status from_rocksdb(const rocksdb::Status& status, std::string_view doing);

}  // namespace ragkit::retrieval
