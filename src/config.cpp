#include "gptrec/config.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "gptrec/error.hpp"
#include "io.hpp"
#include "json_document.hpp"

namespace gptrec {

using json = nlohmann::json;

std::string_view to_string(PositionEncoding p) {
  return p == PositionEncoding::kLearned ? "learned" : "sinusoidal";
}

std::string_view to_string(Activation a) {
  return a == Activation::kGeluTanh ? "gelu_new" : "gelu";
}

std::string_view to_string(ModelKind k) { return k == ModelKind::kText ? "text" : "items"; }

std::string_view to_string(SequenceFormat f) {
  return f == SequenceFormat::kBaskets ? "baskets" : "items";
}

namespace {

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw Error(ErrorCode::kBadModel, std::string(source) + ": " + what);
}

// Returns the value of the first key present among `names`, or nullptr.
const json* find_key(const json& obj, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    auto it = obj.find(name);
    if (it != obj.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

int read_int(const json& obj, std::initializer_list<const char*> names, std::string_view source,
             bool required, int fallback) {
  const json* v = find_key(obj, names);
  if (v == nullptr) {
    if (required) fail(source, std::string("missing key \"") + *names.begin() + "\"");
    return fallback;
  }
  if (!v->is_number_integer() && !v->is_number_unsigned())
    fail(source, std::string("\"") + *names.begin() + "\": expected an integer, got " + v->dump());
  const auto value = v->get<std::int64_t>();
  if (value < 0 || value > std::numeric_limits<int>::max())
    fail(source,
         std::string("\"") + *names.begin() + "\": " + std::to_string(value) + " is out of range");
  return static_cast<int>(value);
}

// "gptrec.ranker": every key required, so that a ranker reads the same wherever it is loaded.
RankerConfig parse_ranker(const json& r, std::string_view source) {
  if (!r.is_object()) fail(source, "\"gptrec.ranker\": expected an object");
  auto at = [&](const json& o, const std::string& path, const char* key) -> const json& {
    const json* v = find_key(o, {key});
    if (v == nullptr) fail(source, "\"" + path + "." + key + "\": missing");
    return *v;
  };
  auto number = [&](const json& o, const std::string& path, const char* key) {
    const json& v = at(o, path, key);
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      fail(source, "\"" + path + "." + key + "\": expected a number, got " + v.dump());
    return v.get<double>();
  };
  auto integer = [&](const json& o, const std::string& path, const char* key) {
    const double v = number(o, path, key);
    if (v != std::floor(v) || v < 1 || v > 1e9)
      fail(source, "\"" + path + "." + key + "\": expected a positive integer, got " +
                       at(o, path, key).dump());
    return static_cast<int>(v);
  };
  const std::string root = "gptrec.ranker";
  RankerConfig k;
  k.mix = number(r, root, "mix");
  k.decay = number(r, root, "decay");
  const json& w = at(r, root, "weights");
  if (!w.is_object()) fail(source, "\"gptrec.ranker.weights\": expected an object");
  const std::string wp = root + ".weights";
  k.explore = number(w, wp, "explore");
  k.repeat = number(w, wp, "repeat");
  k.count = number(w, wp, "count");
  k.decayed = number(w, wp, "decayed");
  k.last = number(w, wp, "last");
  k.baskets = number(w, wp, "baskets");
  k.repeat_explore = number(w, wp, "repeat_explore");
  const json& n = at(r, root, "neighbors");
  if (!n.is_object()) fail(source, "\"gptrec.ranker.neighbors\": expected an object");
  const std::string np = root + ".neighbors";
  const json& file = at(n, np, "file");
  if (!file.is_string() || file.get<std::string>().empty() ||
      file.get<std::string>().find('/') != std::string::npos ||
      file.get<std::string>().find('\\') != std::string::npos)
    fail(source,
         "\"gptrec.ranker.neighbors.file\": expected a file name in the model directory, got " +
             file.dump());
  k.neighbors_file = file.get<std::string>();
  k.neighbors = integer(n, np, "k");
  k.within_decay = number(n, np, "within_decay");
  k.group_decay = number(n, np, "group_decay");
  k.groups = integer(n, np, "groups");
  return k;
}

}  // namespace

void ModelConfig::validate(std::string_view source) const {
  auto positive = [&](int v, const char* key) {
    if (v <= 0)
      fail(source, std::string("\"") + key + "\" must be positive, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(n_ctx, "n_positions");
  positive(n_embd, "n_embd");
  positive(n_layer, "n_layer");
  positive(n_head, "n_head");
  positive(n_inner, "n_inner");
  if (n_embd % n_head != 0)
    fail(source, "\"n_embd\" (" + std::to_string(n_embd) + ") is not a multiple of \"n_head\" (" +
                     std::to_string(n_head) + ")");
  if (position_encoding == PositionEncoding::kSinusoidal && n_embd % 2 != 0)
    fail(source, "sinusoidal positions need an even \"n_embd\", got " + std::to_string(n_embd));
  if (!(layer_norm_epsilon > 0.0f) || !(layer_norm_epsilon < 1.0f))
    fail(source, "\"layer_norm_epsilon\" must be in (0, 1)");
  if (!(repeat.weight >= 0.0 && repeat.weight < 1.0))
    fail(source,
         "\"gptrec.repeat.weight\" must be in [0, 1), got " + std::to_string(repeat.weight));
  if (!(repeat.decay > 0.0 && repeat.decay <= 1.0))
    fail(source, "\"gptrec.repeat.decay\" must be in (0, 1], got " + std::to_string(repeat.decay));
  if (!(need_weight >= 0.0 && std::isfinite(need_weight)))
    fail(source,
         "\"gptrec.need.weight\" must be a finite number >= 0, got " + std::to_string(need_weight));
  if (!(need_popularity >= 0.0 && std::isfinite(need_popularity)))
    fail(source, "\"gptrec.need.popularity\" must be a finite number >= 0, got " +
                     std::to_string(need_popularity));
  if (ranker) {
    if (kind != ModelKind::kItems || sequence_format != SequenceFormat::kBaskets)
      fail(source, "\"gptrec.ranker\": only item models of the baskets format have a ranker");
    if (repeat.weight > 0)
      fail(source, "\"gptrec.ranker\" and \"gptrec.repeat\" exclude each other");
    if (!(ranker->mix >= 0.0 && ranker->mix < 1.0))
      fail(source, "\"gptrec.ranker.mix\" must be in [0, 1), got " + std::to_string(ranker->mix));
    for (const auto& [value, key] : {std::pair{ranker->decay, "decay"},
                                     std::pair{ranker->within_decay, "neighbors.within_decay"},
                                     std::pair{ranker->group_decay, "neighbors.group_decay"}})
      if (!(value > 0.0 && value <= 1.0))
        fail(source, std::string("\"gptrec.ranker.") + key + "\" must be in (0, 1], got " +
                         std::to_string(value));
  }
  // Bounds that keep every buffer size far from overflow; far above any model gptrec targets.
  constexpr int kMaxDim = 1 << 20;
  if (vocab_size > (1 << 24) || n_ctx > kMaxDim || n_embd > kMaxDim || n_inner > 4 * kMaxDim ||
      n_layer > 4096 || n_head > n_embd)
    fail(source, "model sizes are out of the supported range");
}

ModelConfig parse_model_config(std::string_view json_text, std::string_view source) {
  const json j = parse_json_document(json_text, source, ErrorCode::kBadModel);
  if (!j.is_object()) fail(source, "expected a JSON object");

  ModelConfig c;
  c.vocab_size = read_int(j, {"vocab_size"}, source, true, 0);
  c.n_ctx = read_int(j, {"n_positions", "n_ctx", "context_length"}, source, true, 0);
  c.n_embd = read_int(j, {"n_embd", "hidden_size"}, source, true, 0);
  c.n_layer = read_int(j, {"n_layer", "num_hidden_layers"}, source, true, 0);
  c.n_head = read_int(j, {"n_head", "num_attention_heads"}, source, true, 0);
  // 4 * n_embd in 64 bits: n_embd may be as large as INT_MAX here (validate() refuses it later).
  c.n_inner = read_int(j, {"n_inner"}, source, false,
                       static_cast<int>(std::min<std::int64_t>(std::int64_t{4} * c.n_embd,
                                                               std::numeric_limits<int>::max())));

  if (const json* eps = find_key(j, {"layer_norm_epsilon", "layer_norm_eps"})) {
    if (!eps->is_number()) fail(source, "\"layer_norm_epsilon\": expected a number");
    // Checked as a double: converting a double outside float's range to float is undefined.
    const double value = eps->get<double>();
    if (!(value > 0.0) || !(value < 1.0)) fail(source, "\"layer_norm_epsilon\" must be in (0, 1)");
    c.layer_norm_epsilon = static_cast<float>(value);
  }
  if (const json* act = find_key(j, {"activation_function"})) {
    const std::string a = act->is_string() ? act->get<std::string>() : act->dump();
    if (a == "gelu_new" || a == "gelu_pytorch_tanh" || a == "gelu_fast")
      c.activation = Activation::kGeluTanh;
    else if (a == "gelu")
      c.activation = Activation::kGeluExact;
    else
      fail(source, "\"activation_function\": unsupported value " + act->dump() +
                       " (expected \"gelu_new\", \"gelu_pytorch_tanh\" or \"gelu\")");
  }
  if (const json* pe = find_key(j, {"position_encoding"})) {
    const std::string p = pe->is_string() ? pe->get<std::string>() : pe->dump();
    if (p == "learned")
      c.position_encoding = PositionEncoding::kLearned;
    else if (p == "sinusoidal")
      c.position_encoding = PositionEncoding::kSinusoidal;
    else
      fail(source, "\"position_encoding\": unsupported value " + pe->dump() +
                       " (expected \"learned\" or \"sinusoidal\")");
  }
  // Hugging Face GPT-2 options that change the arithmetic: refuse rather than compute silently
  // different numbers.
  for (const char* key : {"scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"}) {
    if (const json* v = find_key(j, {key}); v != nullptr && v->is_boolean() && v->get<bool>())
      fail(source, std::string("\"") + key + "\": true is not supported");
  }
  if (const json* v = find_key(j, {"scale_attn_weights"});
      v != nullptr && v->is_boolean() && !v->get<bool>())
    fail(source, "\"scale_attn_weights\": false is not supported");

  if (const json* g = find_key(j, {"gptrec"})) {
    if (!g->is_object()) fail(source, "\"gptrec\": expected an object");
    if (const json* kind = find_key(*g, {"kind"})) {
      if (*kind == "items")
        c.kind = ModelKind::kItems;
      else if (*kind == "text")
        c.kind = ModelKind::kText;
      else
        fail(source, "\"gptrec.kind\": unsupported value " + kind->dump() +
                         " (expected \"items\" or \"text\")");
    }
    if (const json* f = find_key(*g, {"sequence_format"})) {
      if (*f == "baskets")
        c.sequence_format = SequenceFormat::kBaskets;
      else if (*f == "items")
        c.sequence_format = SequenceFormat::kItems;
      else
        fail(source, "\"gptrec.sequence_format\": unsupported value " + f->dump() +
                         " (expected \"baskets\" or \"items\")");
    }
    if (const json* r = find_key(*g, {"repeat"})) {
      if (!r->is_object()) fail(source, "\"gptrec.repeat\": expected an object");
      auto number = [&](const char* key, double fallback) {
        const json* v = find_key(*r, {key});
        if (v == nullptr) return fallback;
        if (!v->is_number())
          fail(source,
               std::string("\"gptrec.repeat.") + key + "\": expected a number, got " + v->dump());
        return v->get<double>();
      };
      c.repeat.weight = number("weight", 0.0);
      c.repeat.decay = number("decay", 1.0);
      if (c.kind != ModelKind::kItems)
        fail(source, "\"gptrec.repeat\": only item models have a repeat component");
    }
    if (const json* n = find_key(*g, {"need"})) {
      if (!n->is_object()) fail(source, "\"gptrec.need\": expected an object");
      if (const json* w = find_key(*n, {"weight"})) {
        if (!w->is_number())
          fail(source, "\"gptrec.need.weight\": expected a number, got " + w->dump());
        c.need_weight = w->get<double>();
      }
      if (const json* b = find_key(*n, {"popularity"})) {
        if (!b->is_number())
          fail(source, "\"gptrec.need.popularity\": expected a number, got " + b->dump());
        c.need_popularity = b->get<double>();
      }
    }
    if (const json* r = find_key(*g, {"ranker"})) c.ranker = parse_ranker(*r, source);
  }

  c.validate(source);
  return c;
}

ModelConfig load_model_config(const std::filesystem::path& path) {
  return parse_model_config(read_text_file(path, ErrorCode::kBadModel), path.string());
}

}  // namespace gptrec
