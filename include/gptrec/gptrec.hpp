// gptrec: a GPT inference library for personalized product suggestions. Umbrella header: the
// whole public API.
//
// Errors: a failure caused by anything outside the program (a file, a JSON document, a tensor, an
// argument) is thrown as gptrec::Error (error.hpp) whose code says which input was at fault; each
// call's comment names the codes it uses. Memory exhaustion is std::bad_alloc.
//
// Thread-safety, the rules every header follows (a comment says so where a call differs):
//   - Loaded objects are immutable and shareable: Model, Recommender, Tokenizer (Gpt2Tokenizer,
//     ItemVocabulary), Catalog, SafetensorsFile, ModelConfig, BasketStatistics. Their const
//     methods may be called from any number of threads at once.
//   - Per-query state belongs to one thread at a time: Session, KVCache, Sampler, StopMatcher.
//     Use one per thread (they are cheap next to a Model).
//   - Free functions keep no hidden shared state: calls on different arguments, or on shared
//     const ones, may run concurrently. Arguments a call writes to must not be shared.
//   - Heavy ops use OpenMP threads inside one call. A program that runs queries in parallel
//     calls set_op_threads(1) in each worker thread (model.hpp), so the two kinds of parallelism
//     do not multiply.
#pragma once

#include "gptrec/config.hpp"
#include "gptrec/error.hpp"
#include "gptrec/evaluation.hpp"
#include "gptrec/history.hpp"
#include "gptrec/layers.hpp"
#include "gptrec/model.hpp"
#include "gptrec/model_directory.hpp"
#include "gptrec/need.hpp"
#include "gptrec/quantize.hpp"
#include "gptrec/recommender.hpp"
#include "gptrec/safetensors.hpp"
#include "gptrec/sampling.hpp"
#include "gptrec/scoring.hpp"
#include "gptrec/tokenizer.hpp"
#include "gptrec/version.hpp"
