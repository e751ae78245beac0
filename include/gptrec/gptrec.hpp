// gptrec: a GPT inference library for personalized product suggestions. Umbrella header.
#pragma once

#include "gptrec/config.hpp"
#include "gptrec/error.hpp"
#include "gptrec/layers.hpp"
#include "gptrec/model.hpp"
#include "gptrec/safetensors.hpp"
#include "gptrec/tokenizer.hpp"
#include "gptrec/version.hpp"
