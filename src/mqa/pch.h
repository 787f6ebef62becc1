// Precompiled header: LibTorch's headers dominate compile time, so every translation unit of mqa shares one parse.
#pragma once
#include <torch/torch.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>
