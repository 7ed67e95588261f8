// Tests of plugen/core/detail/caching_allocator.hpp: blocks are reused inside a scope, the previous allocator
// comes back after it, and tensors may outlive the scope.
#include <c10/core/CPUAllocator.h>

#include "plugen/core/detail/caching_allocator.hpp"
#include "support.hpp"

using namespace plugen;

TEST_CASE("caching allocator: a scope reuses freed blocks and restores the previous allocator", "[caching_allocator]") {
  auto* before = c10::GetCPUAllocator();
  auto& caching = plugen::detail::CachingCpuAllocator::instance();
  REQUIRE(before != &caching);
  torch::Tensor outlives;
  {
    const plugen::detail::CachingAllocatorScope scope;
    CHECK(c10::GetCPUAllocator() == &caching);
    const void* first = nullptr;
    {
      auto t = torch::empty({1 << 18});  // 1 MiB: glibc would map fresh pages for it
      first = t.data_ptr();
    }
    CHECK(caching.cached_bytes() >= (size_t{1} << 20));
    auto again = torch::ones({1 << 18});
    CHECK(again.data_ptr() == first);  // the same block, reused
    CHECK(again.sum().item<double>() == double(1 << 18));
    {
      const plugen::detail::CachingAllocatorScope nested;  // scopes nest: leaving this one changes nothing
    }
    CHECK(c10::GetCPUAllocator() == &caching);
    auto odd = torch::arange(37, torch::kFloat64);  // sizes that are not multiples of the alignment work too
    CHECK(odd.sum().item<double>() == 666.0);
    CHECK(reinterpret_cast<uintptr_t>(odd.data_ptr()) % 64 == 0);
    outlives = torch::full({1000}, 2.0);
    auto empty = torch::empty({0});
    CHECK(empty.numel() == 0);
  }
  CHECK(c10::GetCPUAllocator() == before);
  CHECK(caching.cached_bytes() == 0);  // the last scope frees the cache
  CHECK(outlives.sum().item<double>() == 2000.0);
  outlives = torch::Tensor();  // freed to the system now that no scope is alive
  CHECK(caching.cached_bytes() == 0);
}
