// A manifest from a torchvision transform description: the evaluation
// transform a PyTorch user already has in their code, read as text
// ("Resize(256), CenterCrop(224), ToTensor(), Normalize(mean=[...], std=[...])").
#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "common/Strings.h"
#include "model/Manifest.h"

namespace cvgate {

namespace {

/// A value in a call's arguments: a number, a list or tuple, a dotted name
/// (InterpolationMode.BICUBIC, torch.float, True, None) or a string.
struct Val {
  enum Kind { Num, List, Name, Str } kind = Num;
  double num = 0;
  bool integer = false;
  std::vector<Val> items;
  std::string text;                ///< Name or Str
};

struct Arg {
  std::string key;                 ///< "" for a positional argument
  Val value;
};

struct Call {
  std::string name;                ///< the last component: "Resize" of "T.Resize"
  std::vector<Arg> args;
};

Error bad(const std::string& what) { return badInput("transform: " + what); }

class Parser {
 public:
  explicit Parser(const std::string& s) : s_(s) {}

  Expected<std::vector<Call>> calls() {
    std::vector<Call> out;
    skip();
    // Compose([ ... ]) around the list is optional, as are the brackets.
    std::size_t save = pos_;
    auto name = dotted();
    bool composed = false;
    if (name && lastPart(*name) == "Compose" && peek('(')) {
      ++pos_;
      skip();
      composed = true;
    } else {
      pos_ = save;
    }
    bool bracket = false;
    if (peek('[')) {
      ++pos_;
      bracket = true;
    }
    while (true) {
      skip();
      if (atEnd() || peek(']') || peek(')')) break;
      CVGATE_TRY_ASSIGN(c, call());
      out.push_back(std::move(c));
      skip();
      if (peek(',')) {
        ++pos_;
        continue;
      }
      break;
    }
    skip();
    if (bracket) CVGATE_TRY(expect(']'));
    skip();
    if (composed) CVGATE_TRY(expect(')'));
    skip();
    if (!atEnd()) return bad("unexpected '" + s_.substr(pos_, 12) + "' at character " + std::to_string(pos_ + 1));
    if (out.empty()) return bad("expected transforms such as \"Resize(256), CenterCrop(224), ToTensor()\"");
    return out;
  }

 private:
  static std::string lastPart(const std::string& n) {
    auto dot = n.rfind('.');
    return dot == std::string::npos ? n : n.substr(dot + 1);
  }
  bool atEnd() const { return pos_ >= s_.size(); }
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  Status expect(char c) {
    skip();
    if (!peek(c))
      return bad("expected '" + std::string(1, c) + "' at character " + std::to_string(pos_ + 1) +
                 (atEnd() ? " (end of text)" : ", not '" + std::string(1, s_[pos_]) + "'"));
    ++pos_;
    return okStatus();
  }
  std::optional<std::string> dotted() {
    skip();
    std::size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' || s_[pos_] == '.'))
      ++pos_;
    if (pos_ == start || std::isdigit(static_cast<unsigned char>(s_[start]))) {
      pos_ = start;
      return std::nullopt;
    }
    return s_.substr(start, pos_ - start);
  }

  Expected<Call> call() {
    skip();
    std::size_t at = pos_;
    auto name = dotted();
    if (!name) return bad("expected a transform name at character " + std::to_string(at + 1));
    Call c;
    c.name = lastPart(*name);
    CVGATE_TRY(expect('('));
    skip();
    while (!peek(')')) {
      Arg a;
      std::size_t save = pos_;
      auto key = dotted();
      skip();
      if (key && peek('=') && key->find('.') == std::string::npos) {
        ++pos_;
        a.key = *key;
      } else {
        pos_ = save;
      }
      CVGATE_TRY_ASSIGN(v, value());
      a.value = std::move(v);
      c.args.push_back(std::move(a));
      skip();
      if (peek(',')) {
        ++pos_;
        skip();
        continue;
      }
      if (!peek(')')) return bad("'" + c.name + "': expected ',' or ')' at character " + std::to_string(pos_ + 1));
    }
    ++pos_;
    return c;
  }

  Expected<Val> value() {
    skip();
    Val v;
    if (peek('[') || peek('(')) {
      const char close = s_[pos_] == '[' ? ']' : ')';
      ++pos_;
      v.kind = Val::List;
      skip();
      while (!peek(close)) {
        CVGATE_TRY_ASSIGN(item, value());
        v.items.push_back(std::move(item));
        skip();
        if (peek(',')) {
          ++pos_;
          skip();
          continue;
        }
        if (!peek(close)) return bad("expected ',' or '" + std::string(1, close) + "' at character " + std::to_string(pos_ + 1));
      }
      ++pos_;
      return v;
    }
    if (peek('"') || peek('\'')) {
      const char q = s_[pos_++];
      std::size_t end = s_.find(q, pos_);
      if (end == std::string::npos) return bad("unterminated string at character " + std::to_string(pos_));
      v.kind = Val::Str;
      v.text = s_.substr(pos_, end - pos_);
      pos_ = end + 1;
      return v;
    }
    if (auto n = dotted()) {
      v.kind = Val::Name;
      v.text = *n;
      return v;
    }
    std::size_t start = pos_;
    if (peek('-') || peek('+')) ++pos_;
    while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '.' ||
                                s_[pos_] == 'e' || s_[pos_] == 'E' ||
                                ((s_[pos_] == '-' || s_[pos_] == '+') && (s_[pos_ - 1] == 'e' || s_[pos_ - 1] == 'E'))))
      ++pos_;
    const std::string t = s_.substr(start, pos_ - start);
    if (t.empty() || t == "-" || t == "+") return bad("expected a value at character " + std::to_string(start + 1));
    try {
      std::size_t used = 0;
      v.num = std::stod(t, &used);
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      return bad("'" + t + "': expected a number");
    }
    v.kind = Val::Num;
    v.integer = t.find_first_of(".eE") == std::string::npos;
    return v;
  }

  const std::string& s_;
  std::size_t pos_ = 0;
};

/// The arguments of one call, by position or keyword, each taken once.
class Args {
 public:
  Args(const Call& c, std::vector<std::string> names) : c_(c), names_(std::move(names)) {}

  Status check() const {
    std::size_t positional = 0;
    for (const auto& a : c_.args) {
      if (a.key.empty()) {
        if (++positional > names_.size())
          return bad("'" + c_.name + "': expected at most " + std::to_string(names_.size()) + " argument(s)");
      } else if (std::find(names_.begin(), names_.end(), a.key) == names_.end()) {
        return bad("'" + c_.name + "': unknown argument '" + a.key + "'" + didYouMean(a.key, names_));
      }
    }
    return okStatus();
  }

  const Val* get(const std::string& name) const {
    std::size_t positional = 0;
    const auto idx = static_cast<std::size_t>(std::find(names_.begin(), names_.end(), name) - names_.begin());
    for (const auto& a : c_.args) {
      if (a.key == name) return &a.value;
      if (a.key.empty() && positional++ == idx) return &a.value;
    }
    return nullptr;
  }

 private:
  const Call& c_;
  std::vector<std::string> names_;
};

bool isNone(const Val* v) { return !v || (v->kind == Val::Name && v->text == "None"); }

Expected<bool> boolean(const Val* v, const std::string& what) {
  if (v && v->kind == Val::Name && (v->text == "True" || v->text == "False")) return v->text == "True";
  return bad("'" + what + "': expected True or False");
}

Expected<int> positiveInt(const Val& v, const std::string& what) {
  if (v.kind != Val::Num || !v.integer || v.num < 1 || v.num > 65536)
    return bad("'" + what + "': expected a size in 1..65536");
  return static_cast<int>(v.num);
}

/// An int, a one-element sequence (torchvision: the shorter side) or (h, w).
struct Size {
  int shorter = 0, h = 0, w = 0;
};
Expected<Size> size(const Val* v, const std::string& what) {
  if (!v) return bad("'" + what + "': expected a size");
  Size s;
  if (v->kind == Val::Num) {
    CVGATE_TRY_ASSIGN(n, positiveInt(*v, what));
    s.shorter = n;
    return s;
  }
  if (v->kind == Val::List && v->items.size() == 1) {
    CVGATE_TRY_ASSIGN(n, positiveInt(v->items[0], what));
    s.shorter = n;
    return s;
  }
  if (v->kind == Val::List && v->items.size() == 2) {
    CVGATE_TRY_ASSIGN(h, positiveInt(v->items[0], what));
    CVGATE_TRY_ASSIGN(w, positiveInt(v->items[1], what));
    s.h = h;
    s.w = w;
    return s;
  }
  return bad("'" + what + "': expected a size: an integer or (height, width)");
}

Expected<std::vector<double>> numbers(const Val* v, const std::string& what) {
  if (!v || v->kind != Val::List || v->items.empty()) return bad("'" + what + "': expected a list of numbers");
  std::vector<double> out;
  for (const auto& x : v->items) {
    if (x.kind != Val::Num || !std::isfinite(x.num)) return bad("'" + what + "': expected a list of numbers");
    out.push_back(x.num);
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

}  // namespace

Expected<std::vector<std::int64_t>> parseInputShape(const std::string& text) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t x = text.find_first_of("xX,", start);
    std::string part = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
    if (part.empty() || part.size() > 6 || part.find_first_not_of("0123456789") != std::string::npos)
      return badInput("input shape '" + text + "': expected CxHxW, e.g. 3x224x224");
    out.push_back(std::stoll(part));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  if (out.size() != 3) return badInput("input shape '" + text + "': expected CxHxW, e.g. 3x224x224");
  return out;
}

Expected<Manifest> manifestFromTransform(const std::string& transform, const TransformManifestOptions& o) {
  Parser p(transform);
  CVGATE_TRY_ASSIGN(calls, p.calls());
  if (o.inputShape.size() != 3) return badInput("input shape: expected [C, H, W]");
  const auto H = o.inputShape[1], W = o.inputShape[2];
  nlohmann::json pp = nlohmann::json::object();
  std::string colour = o.inputShape[0] == 1 ? "grey" : "rgb";
  bool resized = false, cropped = false, tensor = false, pilTensor = false, normalised = false;
  std::string resizeText;
  const std::vector<std::string> known = {"Resize", "CenterCrop", "Grayscale", "ToTensor", "PILToTensor",
                                          "ConvertImageDtype", "Normalize"};
  for (const Call& c : calls) {
    auto after = [&](bool already, const char* what) -> Status {
      if (already) return bad("'" + c.name + "': expected before " + what + " (the order torchvision applies them in)");
      return okStatus();
    };
    if (c.name == "Resize") {
      Args a(c, {"size", "interpolation", "max_size", "antialias"});
      CVGATE_TRY(a.check());
      if (resized) return bad("'Resize': expected one Resize");
      CVGATE_TRY(after(cropped, "CenterCrop"));
      CVGATE_TRY(after(tensor || pilTensor, "ToTensor"));
      if (!isNone(a.get("max_size"))) return bad("'Resize': max_size is not supported: give the size to resize to");
      CVGATE_TRY_ASSIGN(s, size(a.get("size"), "Resize"));
      if (s.shorter) {
        pp["resize"] = s.shorter;
        resizeText = "Resize(" + std::to_string(s.shorter) + ")";
      } else {
        pp["resize"] = {s.h, s.w};
        resizeText = "Resize((" + std::to_string(s.h) + ", " + std::to_string(s.w) + "))";
      }
      if (const Val* v = a.get("interpolation"); !isNone(v)) {
        std::string mode = v->kind == Val::Name || v->kind == Val::Str ? lower(v->text) : "";
        if (auto dot = mode.rfind('.'); dot != std::string::npos) mode = mode.substr(dot + 1);
        if (mode != "bilinear" && mode != "bicubic" && mode != "nearest")
          return bad("'Resize': interpolation: expected InterpolationMode.BILINEAR, BICUBIC or NEAREST");
        pp["interpolation"] = mode;
      }
      // torchvision resizes a PIL image with PIL, which always antialiases;
      // antialias=False describes its tensor path (torch's interpolate).
      bool aa = true;
      if (const Val* v = a.get("antialias"); !isNone(v)) {
        CVGATE_TRY_ASSIGN(b, boolean(v, "Resize: antialias"));
        aa = b;
      }
      pp["antialias"] = aa;
      resized = true;
    } else if (c.name == "CenterCrop") {
      Args a(c, {"size"});
      CVGATE_TRY(a.check());
      CVGATE_TRY(after(tensor || pilTensor, "ToTensor"));
      if (cropped) return bad("'CenterCrop': expected one CenterCrop");
      CVGATE_TRY_ASSIGN(s, size(a.get("size"), "CenterCrop"));
      const int ch = s.shorter ? s.shorter : s.h, cw = s.shorter ? s.shorter : s.w;
      if (ch != H || cw != W)
        return bad("'CenterCrop': crops to " + std::to_string(ch) + "x" + std::to_string(cw) +
                   ": expected the input's " + std::to_string(H) + "x" + std::to_string(W));
      pp["crop"] = {ch, cw};
      cropped = true;
    } else if (c.name == "Grayscale") {
      Args a(c, {"num_output_channels"});
      CVGATE_TRY(a.check());
      CVGATE_TRY(after(tensor || pilTensor, "ToTensor"));
      const Val* n = a.get("num_output_channels");
      if (n && !(n->kind == Val::Num && n->num == 1))
        return bad("'Grayscale': expected num_output_channels=1 (a grey model takes one channel)");
      if (o.inputShape[0] != 1) return bad("'Grayscale': the input has " + std::to_string(o.inputShape[0]) +
                                           " channels: expected 1 for a grey model");
      colour = "grey";
    } else if (c.name == "ToTensor") {
      CVGATE_TRY(Args(c, {}).check());
      if (tensor || pilTensor) return bad("'ToTensor': expected once");
      tensor = true;
    } else if (c.name == "PILToTensor") {
      CVGATE_TRY(Args(c, {}).check());
      if (tensor || pilTensor) return bad("'PILToTensor': expected once");
      pilTensor = true;
    } else if (c.name == "ConvertImageDtype") {
      Args a(c, {"dtype"});
      CVGATE_TRY(a.check());
      const Val* d = a.get("dtype");
      if (!pilTensor || tensor) return bad("'ConvertImageDtype': expected right after PILToTensor()");
      if (!d || d->kind != Val::Name || (d->text != "torch.float" && d->text != "torch.float32"))
        return bad("'ConvertImageDtype': expected torch.float (the model takes float32)");
      tensor = true;  // uint8 / 255, as ToTensor
    } else if (c.name == "Normalize") {
      Args a(c, {"mean", "std", "inplace"});
      CVGATE_TRY(a.check());
      if (!tensor) return bad("'Normalize': expected after ToTensor() (it normalises a float tensor)");
      if (normalised) return bad("'Normalize': expected once");
      CVGATE_TRY_ASSIGN(mean, numbers(a.get("mean"), "Normalize: mean"));
      CVGATE_TRY_ASSIGN(sd, numbers(a.get("std"), "Normalize: std"));
      pp["mean"] = mean;
      pp["std"] = sd;
      normalised = true;
    } else {
      const bool random = c.name.rfind("Random", 0) == 0;
      return bad("'" + c.name + "': " +
                 (random ? std::string("a training-time augmentation, not part of an evaluation transform")
                         : "expected one of " + join(known, ", ") + didYouMean(c.name, known)));
    }
  }
  if (pilTensor && !tensor) return bad("'PILToTensor': expected ConvertImageDtype(torch.float) after it");
  if (!tensor) return bad("expected ToTensor() (or PILToTensor(), ConvertImageDtype(torch.float)): the model takes floats");
  if (!resized && !cropped)
    return bad("expected a Resize or a CenterCrop to the input's " + std::to_string(H) + "x" + std::to_string(W) +
               " (cvgate feeds the model one size)");
  if (resized && !cropped) {
    const auto& r = pp["resize"];
    if (r.is_number() || r[0].get<std::int64_t>() != H || r[1].get<std::int64_t>() != W)
      return bad("'" + resizeText + "' without CenterCrop gives images of " +
                 (r.is_number() ? std::string("varying size") : std::to_string(r[0].get<int>()) + "x" + std::to_string(r[1].get<int>())) +
                 ": expected CenterCrop(" + std::to_string(H) + ") or Resize((" + std::to_string(H) + ", " +
                 std::to_string(W) + ")) for the input's " + std::to_string(H) + "x" + std::to_string(W));
  }
  nlohmann::json j = {{"schema", kManifestSchema},
                      {"name", o.name},
                      {"version", o.version},
                      {"input", {{"shape", o.inputShape}, {"dtype", "float32"}, {"colour", colour}}},
                      {"preprocess", pp},
                      {"output", o.output},
                      {"labels", o.labels}};
  if (o.outputIndex >= 0) j["output_index"] = o.outputIndex;
  if (!o.outputKey.empty()) j["output_key"] = o.outputKey;
  return manifestFromJson(j);
}

}  // namespace cvgate
