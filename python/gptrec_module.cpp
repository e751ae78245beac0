// The `gptrec` Python module: load a recommender once, then suggest for one customer or score
// many, on Python dicts (or JSON text). Results are the CLI's own JSON objects (built by
// src/batch/result_json.cpp), turned into Python dicts, so `suggest` equals
// `gptrec suggest --format json` and `score` equals the lines of `gptrec score`.
//
// The GIL is released around all model work; `score` runs the CLI's batch engine
// (src/batch/batch_scoring.hpp: chunks of records scored in parallel with OpenMP, the ops
// single-threaded inside). Every failure the library
// reports becomes `gptrec.Error` with the message and the code (the CLI's exit status).
#include <pybind11/eval.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "batch_scoring.hpp"
#include "gptrec/error.hpp"
#include "gptrec/model.hpp"
#include "gptrec/recommender.hpp"
#include "gptrec/version.hpp"
#include "result_json.hpp"

namespace py = pybind11;
using nlohmann::ordered_json;

namespace {

// gptrec.Error is written in Python so that it behaves like any exception class (subclassable,
// picklable with its code: Dask sends a worker's exceptions to the client by pickling them).
constexpr const char* kErrorClassSource = R"(
class Error(Exception):
    """An error reported by gptrec: `message` names the file, JSON path or tensor at fault;
    `code` says which kind of input was wrong, with the values of the CLI's exit status."""
    INTERNAL = 1
    INVALID_ARGUMENT = 2
    BAD_INPUT = 3
    BAD_MODEL = 4
    IO = 5

    def __init__(self, message, code=INVALID_ARGUMENT):
        super().__init__(message)
        self.message = message
        self.code = code

    def __reduce__(self):
        return (type(self), (self.message, self.code))
)";

// ---- Python objects to JSON text -----------------------------------------------------------

// A value that has no JSON form; `path` is where it sits ("events[2].timestamp").
struct NotJson {
  std::string path;
  std::string what;
};

std::string not_json_message(const std::string& source, const NotJson& e) {
  return source + ": " + (e.path.empty() ? "" : e.path + ": ") + e.what;
}

// UTF-8 of a str, or nullopt when it holds lone surrogates (which UTF-8 cannot encode).
std::optional<std::string_view> utf8_of(py::handle s) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(s.ptr(), &size);
  if (data == nullptr) {
    PyErr_Clear();
    return std::nullopt;
  }
  return std::string_view(data, static_cast<std::size_t>(size));
}

std::string type_name(py::handle obj) { return Py_TYPE(obj.ptr())->tp_name; }

// Converts a JSON-like Python value (dict with str keys, list, tuple, str, int, float, bool,
// None; numpy scalars through __index__ / __float__) into `out`. `path` is extended while
// descending and restored on return.
void python_to_json(py::handle obj, ordered_json& out, std::string& path, int depth) {
  // Guards against self-containing lists and dicts.
  if (depth > 512) throw NotJson{path, "nested more than 512 levels deep"};
  if (obj.is_none()) {
    out = nullptr;
  } else if (PyBool_Check(obj.ptr())) {
    out = obj.ptr() == Py_True;
  } else if (PyUnicode_Check(obj.ptr())) {
    const auto text = utf8_of(obj);
    if (!text) throw NotJson{path, "a str with a lone surrogate is not valid Unicode"};
    out = std::string(*text);
  } else if (PyFloat_Check(obj.ptr())) {
    const double v = PyFloat_AS_DOUBLE(obj.ptr());
    if (!std::isfinite(v)) throw NotJson{path, "not a finite number"};
    out = v;
  } else if (PyLong_Check(obj.ptr()) || PyIndex_Check(obj.ptr())) {
    const py::int_ value = py::reinterpret_steal<py::int_>(PyNumber_Index(obj.ptr()));
    int overflow = 0;
    const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
    if (overflow == 0) {
      out = v;
    } else {
      const unsigned long long u = PyLong_AsUnsignedLongLong(value.ptr());
      if (PyErr_Occurred()) {
        PyErr_Clear();
        throw NotJson{path, "an integer too large for JSON (64 bits)"};
      }
      out = u;
    }
  } else if (PyDict_Check(obj.ptr())) {
    out = ordered_json::object();
    const std::size_t base = path.size();
    for (const auto& [key, value] : py::reinterpret_borrow<py::dict>(obj)) {
      if (!PyUnicode_Check(key.ptr()))
        throw NotJson{path, "a dict key of type " + type_name(key) + " (JSON keys are strings)"};
      const auto k = utf8_of(key);
      if (!k) throw NotJson{path, "a dict key with a lone surrogate is not valid Unicode"};
      if (base > 0) path += '.';
      path += *k;
      python_to_json(value, out[std::string(*k)], path, depth + 1);
      path.resize(base);
    }
  } else if (PyList_Check(obj.ptr()) || PyTuple_Check(obj.ptr())) {
    out = ordered_json::array();
    const std::size_t base = path.size();
    std::size_t i = 0;
    for (const py::handle item : py::reinterpret_borrow<py::sequence>(obj)) {
      path += "[" + std::to_string(i++) + "]";
      out.push_back(nullptr);
      python_to_json(item, out.back(), path, depth + 1);
      path.resize(base);
    }
  } else if (Py_TYPE(obj.ptr())->tp_as_number != nullptr &&
             Py_TYPE(obj.ptr())->tp_as_number->nb_float != nullptr && !PyComplex_Check(obj.ptr())) {
    const double v = PyFloat_AsDouble(obj.ptr());  // numpy.float32 and the like
    if (PyErr_Occurred()) {
      PyErr_Clear();
      throw NotJson{path, "a Python " + type_name(obj) + " is not JSON"};
    }
    if (!std::isfinite(v)) throw NotJson{path, "not a finite number"};
    out = v;
  } else {
    throw NotJson{path, "a Python " + type_name(obj) + " is not JSON" +
                            (type_name(obj).rfind("datetime", 0) == 0
                                 ? " (write timestamps as ISO 8601 strings)"
                                 : "")};
  }
}

// The JSON text of a record: str and bytes are taken as JSON text (bytes as they are, like a
// line of a file), anything else is converted. Throws NotJson.
std::string record_text(py::handle obj) {
  if (PyBytes_Check(obj.ptr()))
    return std::string(PyBytes_AS_STRING(obj.ptr()),
                       static_cast<std::size_t>(PyBytes_GET_SIZE(obj.ptr())));
  if (PyByteArray_Check(obj.ptr()))
    return std::string(PyByteArray_AS_STRING(obj.ptr()),
                       static_cast<std::size_t>(PyByteArray_GET_SIZE(obj.ptr())));
  if (PyUnicode_Check(obj.ptr())) {
    if (const auto text = utf8_of(obj)) return std::string(*text);
    // Lone surrogates: text read with errors="surrogateescape" gets its original bytes back;
    // others pass as the (invalid) bytes they stand for. Either way the parser then reports the
    // record as it reports invalid UTF-8 in a file.
    PyObject* raw = PyUnicode_AsEncodedString(obj.ptr(), "utf-8", "surrogateescape");
    if (raw == nullptr) {
      PyErr_Clear();
      raw = PyUnicode_AsEncodedString(obj.ptr(), "utf-8", "surrogatepass");
      if (raw == nullptr) throw py::error_already_set();
    }
    return std::string(py::reinterpret_steal<py::bytes>(raw));
  }
  ordered_json j;
  std::string path;
  python_to_json(obj, j, path, 0);
  return j.dump();
}

// ---- JSON to Python objects ----------------------------------------------------------------

py::str to_py_str(const std::string& s) {
  PyObject* str = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), nullptr);
  if (str != nullptr) return py::reinterpret_steal<py::str>(str);
  PyErr_Clear();
  // Invalid UTF-8 (from an input that had it): replaced exactly as the CLI's output line does.
  const std::string replaced =
      ordered_json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return to_py_str(ordered_json::parse(replaced).get<std::string>());
}

py::object to_python(const ordered_json& j) {
  switch (j.type()) {
    case ordered_json::value_t::null:
      return py::none();
    case ordered_json::value_t::boolean:
      return py::bool_(j.get<bool>());
    case ordered_json::value_t::number_integer:
      return py::int_(j.get<long long>());
    case ordered_json::value_t::number_unsigned:
      return py::int_(j.get<unsigned long long>());
    case ordered_json::value_t::number_float:
      return py::float_(j.get<double>());
    case ordered_json::value_t::string:
      return to_py_str(j.get_ref<const std::string&>());
    case ordered_json::value_t::array: {
      py::list list(j.size());
      std::size_t i = 0;
      for (const auto& v : j) list[i++] = to_python(v);
      return list;
    }
    case ordered_json::value_t::object: {
      py::dict dict;
      for (const auto& [k, v] : j.items()) dict[to_py_str(k)] = to_python(v);
      return dict;
    }
    default:
      throw gptrec::Error(gptrec::ErrorCode::kInternal, "unexpected JSON value in a result");
  }
}

// ---- The recommender ---------------------------------------------------------------------

std::string fspath(const py::handle& path) {
  return py::str(py::module_::import("os").attr("fspath")(path));
}

// The keyword arguments need=, min_price=, max_price= (RecommendOptions::need, min_price,
// max_price) of suggest(), score() and score_lines().
struct NeedArguments {
  std::optional<std::string> need;
  std::optional<double> min_price, max_price;
};

class PyRecommender {
 public:
  PyRecommender(const py::object& model_dir, const py::object& catalog)
      : model_dir_(fspath(model_dir)) {
    std::optional<gptrec::Catalog> parsed;
    if (!catalog.is_none()) {
      if (PyUnicode_Check(catalog.ptr()) || py::hasattr(catalog, "__fspath__")) {
        const std::string path = fspath(catalog);
        py::gil_scoped_release release;
        parsed = gptrec::Catalog::load(path);
      } else {
        std::string text;
        try {
          text = record_text(catalog);
        } catch (const NotJson& e) {
          throw gptrec::Error(gptrec::ErrorCode::kBadInput, not_json_message("<catalog>", e));
        }
        py::gil_scoped_release release;
        parsed = gptrec::Catalog::parse(text, "<catalog>");
      }
    }
    py::gil_scoped_release release;
    rec_ = std::make_shared<const gptrec::Recommender>(
        gptrec::Recommender::load(model_dir_, std::move(parsed)));
  }

  // The options of `top`, `mode` (suggest's --mode names), `exclude_purchased` (the same as
  // mode "discover") and need=, min_price=, max_price=. Throws Error(kInvalidArgument) for an
  // unknown mode, a contradiction or a bad need or price bound (check_options).
  static gptrec::RecommendOptions options_of(int top, const std::string& mode,
                                             bool exclude_purchased, const NeedArguments& need) {
    gptrec::RecommendOptions options;
    options.top_n = top;
    options.need = need.need;
    options.min_price = need.min_price;
    options.max_price = need.max_price;
    const auto parsed = gptrec::parse_suggest_mode(mode);
    if (!parsed)
      throw gptrec::Error(gptrec::ErrorCode::kInvalidArgument,
                          "mode must be mixed, buy-again, discover or all, got \"" + mode + "\"");
    options.mode = *parsed;
    options.exclude_purchased = exclude_purchased;
    gptrec::check_options(options);
    return options;
  }

  py::object suggest(const py::handle& history, int top, bool exclude_purchased,
                     const std::optional<std::string>& category, bool explain,
                     const std::string& mode, const NeedArguments& need) const {
    gptrec::RecommendOptions options = options_of(top, mode, exclude_purchased, need);
    options.category = category;
    options.explain = explain;
    std::string text;
    try {
      text = record_text(history);
    } catch (const NotJson& e) {
      throw gptrec::Error(gptrec::ErrorCode::kBadInput, not_json_message("<history>", e));
    }
    ordered_json result;
    {
      py::gil_scoped_release release;
      const gptrec::History h = gptrec::parse_history(text, "<history>");
      result = gptrec::batch::suggestions_json(rec_->recommend(h, options), model_dir_, *rec_,
                                               options, explain);
    }
    return to_python(result);
  }

  // score() (as_lines false: dicts) and score_lines() (the output lines as str).
  py::list score(const py::iterable& records, int top, bool exclude_purchased, int threads,
                 const std::string& source, const py::object& line_numbers, bool as_lines,
                 const std::string& mode, const NeedArguments& need) const {
    if (top < 1)
      throw gptrec::Error(gptrec::ErrorCode::kInvalidArgument,
                          "top must be at least 1, got " + std::to_string(top));
    if (threads < 0)
      throw gptrec::Error(gptrec::ErrorCode::kInvalidArgument,
                          "threads must be 0 (all cores) or more");
    gptrec::batch::BatchOptions batch_options;
    batch_options.recommend = options_of(top, mode, exclude_purchased, need);
    batch_options.source = source;
    batch_options.threads = threads;
    batch_options.on_unexpected = gptrec::batch::OnUnexpected::kRethrow;  // raised in Python
    batch_options.lines = as_lines;
    // The GIL is held to read records and to build results, released while a chunk is scored.
    batch_options.run_scoring = [](const std::function<void()>& score) {
      py::gil_scoped_release release;
      score();
    };
    py::list out;
    py::iterator numbers;
    if (!line_numbers.is_none()) numbers = py::iter(line_numbers);
    long long next_number = 1;
    py::iterator it = py::iter(records);
    const auto next_record = [&](gptrec::batch::Record& r) {
      if (it == py::iterator::sentinel()) return false;
      if (numbers) {
        if (numbers == py::iterator::sentinel())
          throw py::value_error("line_numbers is shorter than records");
        r.line_number = py::cast<long long>(*numbers);
        ++numbers;
      } else {
        r.line_number = next_number++;
      }
      try {
        r.text = record_text(*it);
      } catch (const NotJson& e) {
        r.error = not_json_message(source + ":" + std::to_string(r.line_number), e);
      }
      ++it;
      return true;
    };
    const auto add_results = [&](std::span<const gptrec::batch::Record> chunk) {
      for (const gptrec::batch::Record& r : chunk)
        out.append(as_lines ? py::object(to_py_str(r.line)) : to_python(r.result));
    };
    gptrec::batch::score_records(*rec_, batch_options, next_record, add_results);
    if (numbers && numbers != py::iterator::sentinel())
      throw py::value_error("line_numbers is longer than records");
    return out;
  }

  const std::string& model_dir() const { return model_dir_; }
  std::string kind() const { return std::string(gptrec::to_string(rec_->kind())); }
  std::size_t catalog_size() const { return rec_->catalog().size(); }

 private:
  std::string model_dir_;
  std::shared_ptr<const gptrec::Recommender> rec_;
};

}  // namespace

PYBIND11_MODULE(gptrec, m) {
  m.doc() = "GPT product suggestions from shopping histories (the gptrec C++ library).";
  m.attr("__version__") = gptrec::kVersion;

  py::exec(kErrorClassSource, m.attr("__dict__"));
  // Kept alive by the module's dict; the translator only borrows it.
  static PyObject* error_class = m.attr("Error").ptr();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const gptrec::Error& e) {
      const py::object exc =
          py::reinterpret_borrow<py::object>(error_class)(e.what(), static_cast<int>(e.code()));
      PyErr_SetObject(error_class, exc.ptr());
    }
  });

  const char* score_doc = R"(Suggestions for many customers, as `gptrec score` gives them.

records: an iterable of histories (dicts, lists of events, or JSON text as str or bytes).
Returns one result per record, in order: {"line", "customer_id", "score", "fallback",
"suggestions": [{"item", "name", "price", "score", "purchased_before", "times_bought",
"last_bought", "times_returned"}], ("unknown_items")}, or for a bad record
{"line", "customer_id", "error"}. Lines are numbered 1, 2, ... unless line_numbers gives them;
`source` prefixes error messages (the CLI uses the input file's path). Records are scored in
parallel on `threads` threads (0: all cores) with the GIL released. mode, need, min_price,
max_price: as suggest's, for every record (a record's own "need" field wins); with a need a result
also has "need_fallback" and "need_every_word".)";

  py::class_<PyRecommender>(m, "Recommender", "A loaded model and its catalog; thread-safe.")
      .def(py::init<const py::object&, const py::object&>(), py::arg("model_dir"),
           py::arg("catalog") = py::none())
      .def(
          "suggest",
          [](const PyRecommender& self, const py::handle& history, int top, bool exclude_purchased,
             const std::optional<std::string>& category, bool explain, const std::string& mode,
             const std::optional<std::string>& need, const std::optional<double>& min_price,
             const std::optional<double>& max_price) {
            return self.suggest(history, top, exclude_purchased, category, explain, mode,
                                NeedArguments{need, min_price, max_price});
          },
          py::arg("history"), py::arg("top") = 10, py::arg("exclude_purchased") = false,
          py::arg("category") = py::none(), py::arg("explain") = false, py::arg("mode") = "mixed",
          py::arg("need") = py::none(), py::arg("min_price") = py::none(),
          py::arg("max_price") = py::none(),
          R"(Suggestions for one customer: a dict like `gptrec suggest --format json`.

history: a dict {"customer_id", "events": [...]}, a list of events, or its JSON text.
mode: "mixed" (the best re-buys and new items, half each), "buy-again", "discover" or "all"
(by score alone), as `gptrec suggest --mode`.
need: what the customer is looking for ("lunch bag"): only products whose name has every word of it
(when none has, those with one of them: "need"["every_word"] is then false); when none fits, the
result's "need"["fallback"] says so and the suggestions are the ones without it.
min_price, max_price: only items with a catalog price in the range.)")
      .def(
          "score",
          [](const PyRecommender& self, const py::iterable& records, int top,
             bool exclude_purchased, int threads, const std::string& source,
             const py::object& line_numbers, const std::string& mode,
             const std::optional<std::string>& need, const std::optional<double>& min_price,
             const std::optional<double>& max_price) {
            return self.score(records, top, exclude_purchased, threads, source, line_numbers, false,
                              mode, NeedArguments{need, min_price, max_price});
          },
          py::arg("records"), py::arg("top") = 10, py::arg("exclude_purchased") = false,
          py::arg("threads") = 0, py::arg("source") = "<records>",
          py::arg("line_numbers") = py::none(), py::arg("mode") = "mixed",
          py::arg("need") = py::none(), py::arg("min_price") = py::none(),
          py::arg("max_price") = py::none(), score_doc)
      .def(
          "score_lines",
          [](const PyRecommender& self, const py::iterable& records, int top,
             bool exclude_purchased, int threads, const std::string& source,
             const py::object& line_numbers, const std::string& mode,
             const std::optional<std::string>& need, const std::optional<double>& min_price,
             const std::optional<double>& max_price) {
            return self.score(records, top, exclude_purchased, threads, source, line_numbers, true,
                              mode, NeedArguments{need, min_price, max_price});
          },
          py::arg("records"), py::arg("top") = 10, py::arg("exclude_purchased") = false,
          py::arg("threads") = 0, py::arg("source") = "<records>",
          py::arg("line_numbers") = py::none(), py::arg("mode") = "mixed",
          py::arg("need") = py::none(), py::arg("min_price") = py::none(),
          py::arg("max_price") = py::none(),
          "Like score(), but each result as its JSON line (str, no newline), byte for byte the "
          "line "
          "`gptrec score` writes.")
      .def_property_readonly("model_dir", &PyRecommender::model_dir,
                             "The model directory, as given to load().")
      .def_property_readonly("kind", &PyRecommender::kind, "'items' or 'text'.")
      .def_property_readonly("catalog_size", &PyRecommender::catalog_size,
                             "How many items can be suggested.")
      .def("__repr__", [](const PyRecommender& self) {
        return "<gptrec.Recommender " + self.kind() + " model " + self.model_dir() + ", " +
               std::to_string(self.catalog_size()) + " items>";
      });

  m.def(
      "load",
      [](const py::object& model_dir, const py::object& catalog) {
        return PyRecommender(model_dir, catalog);
      },
      py::arg("model_dir"), py::arg("catalog") = py::none(),
      R"(Loads a model directory. catalog: None (an item model's own items), a path to a catalog
JSON file, or the catalog itself (a list of item dicts, or {"items": [...]}).)");
}
