#pragma once
/// @file
/// plugen's version, as macros (for the preprocessor and CMake) and as constants.

#define PLUGEN_VERSION_MAJOR 0
#define PLUGEN_VERSION_MINOR 1
#define PLUGEN_VERSION_PATCH 0

namespace plugen {

/// The library version as "MAJOR.MINOR.PATCH".
inline constexpr const char* version_string = "0.1.0";
/// The library version packed as MAJOR * 10000 + MINOR * 100 + PATCH.
inline constexpr int version_number = PLUGEN_VERSION_MAJOR * 10000 + PLUGEN_VERSION_MINOR * 100 + PLUGEN_VERSION_PATCH;

}  // namespace plugen
