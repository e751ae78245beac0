#include <gtest/gtest.h>

#include "gptrec/config.hpp"
#include "gptrec/error.hpp"

using gptrec::Activation;
using gptrec::Error;
using gptrec::parse_model_config;
using gptrec::PositionEncoding;

namespace {

const char* kHuggingFaceGpt2 = R"({
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_inner": null, "n_layer": 12, "n_positions": 1024, "reorder_and_upcast_attn": false,
  "resid_pdrop": 0.1, "scale_attn_by_inverse_layer_idx": false, "scale_attn_weights": true,
  "vocab_size": 50257})";

std::string error_of(const std::string& text) {
  try {
    parse_model_config(text, "config.json");
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), gptrec::ErrorCode::kBadModel);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

}  // namespace

TEST(Config, ReadsHuggingFaceGpt2Config) {
  const auto c = parse_model_config(kHuggingFaceGpt2, "config.json");
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.n_ctx, 1024);
  EXPECT_EQ(c.n_embd, 768);
  EXPECT_EQ(c.n_layer, 12);
  EXPECT_EQ(c.n_head, 12);
  EXPECT_EQ(c.n_inner, 4 * 768);  // "n_inner": null means 4 * n_embd
  EXPECT_EQ(c.head_dim(), 64);
  EXPECT_FLOAT_EQ(c.layer_norm_epsilon, 1e-5f);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  EXPECT_EQ(c.position_encoding, PositionEncoding::kLearned);
}

TEST(Config, ReadsActivationsAndPositions) {
  auto with = [](const std::string& extra) {
    return parse_model_config(R"({"vocab_size": 10, "n_positions": 8, "n_embd": 4, "n_layer": 1,
                                  "n_head": 2, "n_inner": 6)" +
                                  extra + "}",
                              "config.json");
  };
  EXPECT_EQ(with("").n_inner, 6);
  EXPECT_EQ(with(R"(, "activation_function": "gelu")").activation, Activation::kGeluExact);
  EXPECT_EQ(with(R"(, "activation_function": "gelu_pytorch_tanh")").activation,
            Activation::kGeluTanh);
  EXPECT_EQ(with(R"(, "position_encoding": "sinusoidal")").position_encoding,
            PositionEncoding::kSinusoidal);
  EXPECT_FLOAT_EQ(with(R"(, "layer_norm_epsilon": 1e-6)").layer_norm_epsilon, 1e-6f);
}

TEST(Config, RejectsBadValuesNamingTheKey) {
  const std::string base = R"("vocab_size": 10, "n_positions": 8, "n_embd": 4, "n_layer": 1)";
  EXPECT_NE(error_of("{" + base + R"(, "n_head": 2, "activation_function": "relu"})")
                .find("activation_function"),
            std::string::npos);
  EXPECT_NE(error_of("{" + base + R"(, "n_head": 2, "position_encoding": "rotary"})")
                .find("position_encoding"),
            std::string::npos);
  EXPECT_NE(error_of("{" + base + R"(, "n_head": 3})").find("n_head"), std::string::npos);
  EXPECT_NE(error_of("{" + base + "}").find("missing key \"n_head\""), std::string::npos);
  EXPECT_NE(
      error_of(R"({"vocab_size": "ten", "n_positions": 8, "n_embd": 4, "n_layer": 1, "n_head": 2})")
          .find("vocab_size"),
      std::string::npos);
  EXPECT_NE(error_of("{" + base + R"(, "n_head": -2})").find("n_head"), std::string::npos);
  EXPECT_NE(error_of("{" + base + R"(, "n_head": 2, "scale_attn_by_inverse_layer_idx": true})")
                .find("scale_attn_by_inverse_layer_idx"),
            std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("JSON object"), std::string::npos);
  EXPECT_NE(error_of("{\"vocab_size\": ").find("not valid JSON"), std::string::npos);
  EXPECT_EQ(
      error_of("{" + base + R"(, "n_head": 2, "position_encoding": "sinusoidal", "n_embd": 3})")
          .find("config.json"),
      0u);
}

TEST(Config, ReadsTheRepeatComponentOfItemModels) {
  const std::string base =
      R"("vocab_size": 10, "n_positions": 8, "n_embd": 4, "n_layer": 1, "n_head": 2)";
  const auto c = parse_model_config(
      "{" + base + R"(, "gptrec": {"kind": "items", "repeat": {"weight": 0.25, "decay": 0.5}}})",
      "config.json");
  EXPECT_EQ(c.repeat.weight, 0.25);
  EXPECT_EQ(c.repeat.decay, 0.5);
  const auto plain =
      parse_model_config("{" + base + R"(, "gptrec": {"kind": "items"}})", "config.json");
  EXPECT_EQ(plain.repeat.weight, 0.0);
  EXPECT_EQ(plain.repeat.decay, 1.0);
  auto error = [&](const std::string& gptrec) {
    return error_of("{" + base + R"(, "gptrec": )" + gptrec + "}");
  };
  EXPECT_NE(error(R"({"kind": "items", "repeat": {"weight": 1}})").find("gptrec.repeat.weight"),
            std::string::npos);
  EXPECT_NE(error(R"({"kind": "items", "repeat": {"weight": -0.1}})").find("gptrec.repeat.weight"),
            std::string::npos);
  EXPECT_NE(error(R"({"kind": "items", "repeat": {"decay": 0}})").find("gptrec.repeat.decay"),
            std::string::npos);
  EXPECT_NE(error(R"({"kind": "items", "repeat": {"decay": "slow"}})").find("gptrec.repeat.decay"),
            std::string::npos);
  EXPECT_NE(error(R"({"kind": "items", "repeat": 0.5})").find("gptrec.repeat"), std::string::npos);
  EXPECT_NE(error(R"({"kind": "text", "repeat": {"weight": 0.5}})").find("only item models"),
            std::string::npos);
}

TEST(Config, ReadsTheRankerOfBasketItemModels) {
  const std::string base =
      R"("vocab_size": 10, "n_positions": 8, "n_embd": 4, "n_layer": 1, "n_head": 2)";
  const std::string weights =
      R"("weights": {"explore": 0.5, "repeat": 1, "count": 2, "decayed": 3, "last": -1,)"
      R"( "baskets": 0.25, "repeat_explore": -0.5})";
  const std::string neighbors =
      R"("neighbors": {"file": "nb.json", "k": 7, "within_decay": 0.9, "group_decay": 0.8,)"
      R"( "groups": 3})";
  auto config = [&](const std::string& ranker, const std::string& extra = "") {
    return "{" + base + R"(, "gptrec": {"kind": "items", "sequence_format": "baskets", )" + extra +
           R"("ranker": )" + ranker + "}}";
  };
  const auto c = parse_model_config(
      config(R"({"mix": 0.3, "decay": 0.6, )" + weights + ", " + neighbors + "}"), "config.json");
  ASSERT_TRUE(c.ranker.has_value());
  EXPECT_EQ(c.ranker->mix, 0.3);
  EXPECT_EQ(c.ranker->decay, 0.6);
  EXPECT_EQ(c.ranker->explore, 0.5);
  EXPECT_EQ(c.ranker->count, 2);
  EXPECT_EQ(c.ranker->last, -1);
  EXPECT_EQ(c.ranker->repeat_explore, -0.5);
  EXPECT_EQ(c.ranker->neighbors_file, "nb.json");
  EXPECT_EQ(c.ranker->neighbors, 7);
  EXPECT_EQ(c.ranker->within_decay, 0.9);
  EXPECT_EQ(c.ranker->group_decay, 0.8);
  EXPECT_EQ(c.ranker->groups, 3);
  EXPECT_FALSE(parse_model_config("{" + base + R"(, "gptrec": {"kind": "items"}})", "config.json")
                   .ranker.has_value());

  auto error = [&](const std::string& ranker, const std::string& extra = "") {
    return error_of(config(ranker, extra));
  };
  const std::string good_tail = ", " + weights + ", " + neighbors + "}";
  EXPECT_NE(error(R"({"mix": 1, "decay": 0.6)" + good_tail).find("gptrec.ranker.mix"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0)" + good_tail).find("gptrec.ranker.decay"),
            std::string::npos);
  EXPECT_NE(error(R"({"decay": 0.6)" + good_tail).find("\"gptrec.ranker.mix\": missing"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0.6, "weights": {"explore": 1}, )" + neighbors + "}")
                .find("\"gptrec.ranker.weights.repeat\": missing"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0.6, )" + weights +
                  R"(, "neighbors": {"file": "../x.json", "k": 7, "within_decay": 0.9,)"
                  R"( "group_decay": 0.8, "groups": 3}})")
                .find("gptrec.ranker.neighbors.file"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0.6, )" + weights +
                  R"(, "neighbors": {"file": "nb.json", "k": 0.5, "within_decay": 0.9,)"
                  R"( "group_decay": 0.8, "groups": 3}})")
                .find("gptrec.ranker.neighbors.k"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0.6, )" + weights +
                  R"(, "neighbors": {"file": "nb.json", "k": 7, "within_decay": 1.5,)"
                  R"( "group_decay": 0.8, "groups": 3}})")
                .find("gptrec.ranker.neighbors.within_decay"),
            std::string::npos);
  EXPECT_NE(error(R"({"mix": 0.3, "decay": 0.6)" + good_tail, R"("repeat": {"weight": 0.5}, )")
                .find("exclude each other"),
            std::string::npos);
  EXPECT_NE(
      error_of("{" + base +
               R"(, "gptrec": {"kind": "items", "sequence_format": "items", "ranker": {"mix": )"
               R"(0.3, "decay": 0.6)" +
               good_tail + "}}")
          .find("only item models of the baskets format"),
      std::string::npos);
}
