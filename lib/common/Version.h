#pragma once
namespace cvgate {
inline constexpr const char* kVersion = "0.1.0";
}
