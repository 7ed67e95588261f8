#pragma once
/// @file
/// A CPU allocator that keeps freed blocks for reuse, installed for the duration of a scope (training).
///
/// A training step frees and re-allocates the same tensors every step: activations, and the gradients, which
/// the fused optimizer drops between steps. LibTorch's default CPU allocator hands blocks of 128 KiB and more
/// to glibc, which serves them with fresh `mmap`s and returns them with `munmap`: every step then pays a page
/// fault per 4 KiB touched (measured: at batch 32 of the official preset the kernel's page-fault handling took
/// about a third of the step). This allocator keeps freed blocks in per-size free lists while at least one
/// `CachingAllocatorScope` is alive, so a step reuses the previous step's pages.

#include <c10/core/Allocator.h>
#include <c10/core/CPUAllocator.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

namespace plugen::detail {

/// The caching CPU allocator (one per process; see the file comment). Blocks are 64-byte aligned, like
/// LibTorch's own. Thread-safe.
class CachingCpuAllocator final : public c10::Allocator {
 public:
  /// The process-wide instance. Never destroyed: tensors it allocated may outlive static destructors.
  static CachingCpuAllocator& instance() {
    static auto* allocator = new CachingCpuAllocator();
    return *allocator;
  }

  /// Most bytes kept in the free lists (a training step of the official preset at batch 256 frees about 40 MB);
  /// a block freed beyond that goes back to the system.
  static constexpr size_t max_cached_bytes = size_t{256} << 20;

  c10::DataPtr allocate(size_t n) const override {
    if (n == 0) return {nullptr, nullptr, &release, c10::Device(c10::DeviceType::CPU)};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(n);
      if (it != free_.end() && !it->second.empty()) {
        void* data = it->second.back();
        it->second.pop_back();
        cached_bytes_ -= n;
        return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
      }
    }
    void* block = nullptr;
    if (posix_memalign(&block, alignment, n + alignment) != 0) throw std::bad_alloc();
    *static_cast<size_t*>(block) = n;
    void* data = static_cast<char*>(block) + alignment;
    return {data, data, &release, c10::Device(c10::DeviceType::CPU)};
  }

  c10::DeleterFnPtr raw_deleter() const override { return &release; }

  /// Bytes currently held in the free lists (for tests).
  size_t cached_bytes() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return cached_bytes_;
  }

 private:
  friend class CachingAllocatorScope;
  static constexpr size_t alignment = 64;  // also the size of the header that records a block's size

  CachingCpuAllocator() = default;

  static void release(void* data) {
    if (data == nullptr) return;
    auto& self = instance();
    void* block = static_cast<char*>(data) - alignment;
    const size_t n = *static_cast<size_t*>(block);
    {
      std::lock_guard<std::mutex> lock(self.mutex_);
      if (self.scopes_ > 0 && self.cached_bytes_ + n <= max_cached_bytes) {
        self.free_[n].push_back(data);
        self.cached_bytes_ += n;
        return;
      }
    }
    std::free(block);
  }

  // Called by CachingAllocatorScope. Returns whether this is the first scope.
  bool enter() {
    std::lock_guard<std::mutex> lock(mutex_);
    return scopes_++ == 0;
  }

  // Returns whether this was the last scope; the last one frees the cached blocks.
  bool leave() {
    std::vector<void*> blocks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--scopes_ > 0) return false;
      for (auto& [n, list] : free_)
        for (void* data : list) blocks.push_back(static_cast<char*>(data) - alignment);
      free_.clear();
      cached_bytes_ = 0;
    }
    for (void* block : blocks) std::free(block);
    return true;
  }

  mutable std::mutex mutex_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable size_t cached_bytes_ = 0;
  int scopes_ = 0;
};

/// While alive, LibTorch's CPU tensors are allocated by `CachingCpuAllocator`; the first scope installs it, the
/// last one restores the previous allocator and frees the cached blocks (blocks still in use are freed to the
/// system when their tensors go). Scopes may nest and overlap across threads. If another allocator was
/// installed with a higher priority, it stays in charge and the scope changes nothing.
class CachingAllocatorScope {
 public:
  CachingAllocatorScope() {
    std::lock_guard<std::mutex> lock(install_mutex());
    auto& caching = CachingCpuAllocator::instance();
    if (caching.enter()) {
      previous() = c10::GetCPUAllocator();
      c10::SetCPUAllocator(&caching, priority);
    }
  }

  ~CachingAllocatorScope() {
    std::lock_guard<std::mutex> lock(install_mutex());
    auto& caching = CachingCpuAllocator::instance();
    if (c10::GetCPUAllocator() == &caching && caching.scopes_ == 1) c10::SetCPUAllocator(previous(), priority);
    caching.leave();
  }

  CachingAllocatorScope(const CachingAllocatorScope&) = delete;
  CachingAllocatorScope& operator=(const CachingAllocatorScope&) = delete;

 private:
  // LibTorch registers its default CPU allocator with priority 0; installing and restoring at 0 leaves a
  // higher-priority allocator someone else installed in place.
  static constexpr uint8_t priority = 0;

  static std::mutex& install_mutex() {
    static std::mutex m;
    return m;
  }
  static c10::Allocator*& previous() {
    static c10::Allocator* p = nullptr;
    return p;
  }
};

}  // namespace plugen::detail
