#include "model/Manifest.h"

#include <cmath>
#include <filesystem>

#include "common/Json.h"

namespace cvgate {

std::size_t Manifest::inputSize() const {
  std::size_t n = 1;
  for (auto d : inputShape) n *= static_cast<std::size_t>(d);
  return n;
}

nlohmann::json toJson(const Manifest& m) {
  nlohmann::json j = {
      {"schema", m.schema},
      {"name", m.name},
      {"version", m.version},
      {"task", m.task},
      {"input", {{"shape", m.inputShape}, {"dtype", m.dtype}, {"colour", m.colour}}},
      {"preprocess",
       {{"resize", {m.resizeH, m.resizeW}},
        {"crop", {m.cropH, m.cropW}},
        {"scale", m.scale},
        {"mean", m.mean},
        {"std", m.std}}},
      {"output", m.output},
      {"labels", m.labels}};
  // The fields added after the first manifests are written only when they are
  // not their defaults, so a manifest without them comes back byte for byte.
  auto& pp = j["preprocess"];
  if (m.resizeShorter) pp["resize"] = m.resizeShorter;
  if (m.interpolation != "bilinear") pp["interpolation"] = m.interpolation;
  if (m.antialias) pp["antialias"] = true;
  if (m.channelOrder != "rgb") pp["channel_order"] = m.channelOrder;
  if (m.outputIndex >= 0) j["output_index"] = m.outputIndex;
  if (!m.outputKey.empty()) j["output_key"] = m.outputKey;
  if (!m.training.is_null()) j["training"] = m.training;
  return j;
}

std::string resizeSummary(const Manifest& m) {
  std::string size = m.resizeShorter ? "shorter side " + std::to_string(m.resizeShorter)
                     : m.resizeH     ? std::to_string(m.resizeH) + "x" + std::to_string(m.resizeW)
                                     : "none";
  return size + ", " + m.interpolation + (m.antialias ? ", antialias" : "");
}

namespace {
Error bad(const std::string& field, const std::string& expected) {
  return badInput("manifest field '" + field + "': expected " + expected);
}
}  // namespace

Expected<Manifest> manifestFromJson(const nlohmann::json& j) {
  if (!j.is_object()) return badInput("manifest: expected a JSON object");
  JsonFields f(j, "manifest");
  Manifest m;
  m.schema = f.str("schema");
  CVGATE_TRY(f.status());
  if (m.schema.rfind("cvgate.manifest/", 0) != 0) return bad("schema", "\"cvgate.manifest/1\"");
  if (m.schema != kManifestSchema)
    return badInput("manifest schema '" + m.schema + "' is not read by this cvgate (reads " +
                    kManifestSchema + ")");
  if (!j.contains("name") || !j["name"].is_string() || j["name"].get<std::string>().empty())
    return bad("name", "a non-empty string");
  m.name = j["name"].get<std::string>();
  if (j.contains("version")) {
    if (j["version"].is_string()) m.version = j["version"].get<std::string>();
    else if (j["version"].is_number()) m.version = j["version"].dump();
    else return bad("version", "a string");
  }
  m.task = f.str("task", m.task);
  CVGATE_TRY(f.status());
  if (m.task != "image-classification") return bad("task", "\"image-classification\"");
  const nlohmann::json in = f.object("input");
  CVGATE_TRY(f.status());
  if (!in.contains("shape") || !in["shape"].is_array() || in["shape"].size() != 3)
    return bad("input.shape", "[C, H, W]");
  for (const auto& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<std::int64_t>() < 1 || d.get<std::int64_t>() > 65536)
      return bad("input.shape", "integers in 1..65536");
    m.inputShape.push_back(d.get<std::int64_t>());
  }
  JsonFields fi(in, "manifest field 'input'");
  m.dtype = fi.str("dtype", m.dtype);
  m.colour = fi.str("colour", fi.str("color", m.colour));
  CVGATE_TRY(fi.status());
  if (m.dtype != "float32") return bad("input.dtype", "\"float32\"");
  if (m.colour != "grey" && m.colour != "rgb") return bad("input.colour", "\"grey\" or \"rgb\"");
  if (m.inputShape[0] != m.channels())
    return bad("input.shape", "C = " + std::to_string(m.channels()) + " for colour '" + m.colour + "'");
  if (m.inputSize() > (std::size_t{1} << 28)) return bad("input.shape", "at most 2^28 values per input");
  const nlohmann::json pp = f.object("preprocess");
  CVGATE_TRY(f.status());
  auto pair = [&](const char* key, int& a, int& b) -> Status {
    if (!pp.contains(key)) return okStatus();
    const auto& v = pp[key];
    if (!v.is_array() || v.size() != 2 || !v[0].is_number_integer() || !v[1].is_number_integer() ||
        v[0].get<std::int64_t>() < 0 || v[1].get<std::int64_t>() < 0 || v[0].get<std::int64_t>() > 65536 ||
        v[1].get<std::int64_t>() > 65536)
      return bad(std::string("preprocess.") + key, "[H, W] with integers in 0..65536");
    a = v[0].get<int>();
    b = v[1].get<int>();
    return okStatus();
  };
  if (pp.contains("resize") && pp["resize"].is_number_integer()) {
    const auto s = pp["resize"].get<std::int64_t>();
    if (s < 1 || s > 65536) return bad("preprocess.resize", "a shorter side in 1..65536, or [H, W]");
    m.resizeShorter = static_cast<int>(s);
  } else {
    CVGATE_TRY(pair("resize", m.resizeH, m.resizeW));
  }
  CVGATE_TRY(pair("crop", m.cropH, m.cropW));
  if ((m.cropH && m.cropH != m.height()) || (m.cropW && m.cropW != m.width()))
    return bad("preprocess.crop", "the input's H and W");
  JsonFields fp(pp, "manifest field 'preprocess'");
  m.interpolation = fp.str("interpolation", m.interpolation);
  m.antialias = fp.boolean("antialias", m.antialias);
  m.channelOrder = fp.str("channel_order", m.channelOrder);
  CVGATE_TRY(fp.status());
  if (m.interpolation != "bilinear" && m.interpolation != "bicubic" && m.interpolation != "nearest")
    return bad("preprocess.interpolation", "\"bilinear\", \"bicubic\" or \"nearest\"");
  if (m.channelOrder != "rgb" && m.channelOrder != "bgr")
    return bad("preprocess.channel_order", "\"rgb\" or \"bgr\"");
  if (m.channelOrder == "bgr" && m.colour != "rgb")
    return bad("preprocess.channel_order", "\"rgb\" for a grey input (one channel has no order)");
  if (pp.contains("scale")) {
    if (!pp["scale"].is_number() || !(pp["scale"].get<double>() > 0) || !std::isfinite(pp["scale"].get<double>()))
      return bad("preprocess.scale", "a positive number");
    m.scale = pp["scale"].get<double>();
  }
  auto vec = [&](const char* key, std::vector<double>& out, double dflt) -> Status {
    if (!pp.contains(key)) {
      out.assign(static_cast<std::size_t>(m.channels()), dflt);
      return okStatus();
    }
    const auto& v = pp[key];
    if (!v.is_array() || v.size() != static_cast<std::size_t>(m.channels()))
      return bad(std::string("preprocess.") + key, std::to_string(m.channels()) + " numbers (one per channel)");
    for (const auto& x : v) {
      if (!x.is_number() || !std::isfinite(x.get<double>())) return bad(std::string("preprocess.") + key, "finite numbers");
      out.push_back(x.get<double>());
    }
    return okStatus();
  };
  CVGATE_TRY(vec("mean", m.mean, 0.0));
  CVGATE_TRY(vec("std", m.std, 1.0));
  for (double s : m.std)
    if (!(s > 0)) return bad("preprocess.std", "positive numbers");
  m.output = f.str("output", m.output);
  CVGATE_TRY(f.status());
  if (m.output != "logits" && m.output != "probabilities") return bad("output", "\"logits\" or \"probabilities\"");
  // A model whose forward returns several outputs (a tuple, a list, a dict)
  // names the one that holds the class scores.
  if (j.contains("output_index") && !j["output_index"].is_null()) {
    const auto& v = j["output_index"];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() > 1023)
      return bad("output_index", "an element index in 0..1023 of the tuple or list forward returns");
    m.outputIndex = v.get<int>();
  }
  if (j.contains("output_key") && !j["output_key"].is_null()) {
    const auto& v = j["output_key"];
    if (!v.is_string() || v.get<std::string>().empty())
      return bad("output_key", "the non-empty key of the dict entry forward returns");
    m.outputKey = v.get<std::string>();
  }
  if (m.outputIndex >= 0 && !m.outputKey.empty())
    return bad("output_index", "either output_index (a tuple or list) or output_key (a dict), not both");
  if (!j.contains("labels") || !j["labels"].is_array() || j["labels"].size() < 2)
    return bad("labels", "an array of at least 2 class names");
  for (const auto& l : j["labels"]) {
    if (!l.is_string()) return bad("labels", "strings");
    m.labels.push_back(l.get<std::string>());
  }
  if (j.contains("training")) m.training = j["training"];
  return m;
}

Expected<Manifest> parseManifest(const std::string& text, const std::string& what) {
  CVGATE_TRY_ASSIGN(j, parseJson(text, "'" + what + "': manifest"));
  auto m = manifestFromJson(j);
  if (!m.ok()) return m.error().context("'" + what + "'");
  return m;
}

}  // namespace cvgate

namespace cvgate {

std::string sidecarManifestName(const std::string& modelPath) {
  return std::filesystem::path(modelPath).replace_extension(".manifest.json").string();
}

std::string findSidecarManifest(const std::string& modelPath) {
  std::error_code ec;
  for (const std::string& side : {sidecarManifestName(modelPath), modelPath + ".manifest.json"})
    if (std::filesystem::exists(side, ec)) return side;
  return "";
}

}  // namespace cvgate
