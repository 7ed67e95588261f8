#pragma once
/// @file
/// Module header of plugen's core: errors, checks, version, tensor helpers, seeding, threads, BLAS kernels, atomic
/// files.

#include "plugen/core/atomic_file.hpp"
#include "plugen/core/blas.hpp"
#include "plugen/core/check.hpp"
#include "plugen/core/error.hpp"
#include "plugen/core/seed.hpp"
#include "plugen/core/sha256.hpp"
#include "plugen/core/tensor.hpp"
#include "plugen/core/threads.hpp"
#include "plugen/core/version.hpp"
