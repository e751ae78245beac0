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
