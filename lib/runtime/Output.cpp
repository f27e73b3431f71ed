#include "runtime/Output.h"

#include <string>

namespace cvgate {

namespace {

std::string typeOf(const c10::IValue& v) {
  if (v.isTensor()) return "a tensor";
  if (v.isTuple()) return "a tuple of " + std::to_string(v.toTupleRef().elements().size());
  if (v.isList()) return "a list of " + std::to_string(v.toListRef().size());
  if (v.isGenericDict()) return "a dict of " + std::to_string(v.toGenericDict().size());
  return "a " + v.tagKind();
}

}  // namespace

Expected<at::Tensor> selectOutput(const c10::IValue& r, const Manifest& m) {
  const bool many = r.isTuple() || r.isList();
  if (m.outputIndex >= 0) {
    if (!many)
      return badInput("wrong output type: " + typeOf(r) + ", expected a tuple or list (manifest output_index " +
                      std::to_string(m.outputIndex) + ")");
    const auto n = r.isTuple() ? r.toTupleRef().elements().size() : r.toListRef().size();
    const auto i = static_cast<std::size_t>(m.outputIndex);
    if (i >= n)
      return badInput("wrong output type: " + typeOf(r) + " has no element " + std::to_string(i) +
                      " (manifest output_index)");
    const c10::IValue& e = r.isTuple() ? r.toTupleRef().elements()[i] : r.toListRef()[i];
    if (!e.isTensor())
      return badInput("wrong output type: element " + std::to_string(i) + " of " + typeOf(r) + " is " + typeOf(e) +
                      ", expected a tensor");
    return e.toTensor();
  }
  if (!m.outputKey.empty()) {
    if (!r.isGenericDict())
      return badInput("wrong output type: " + typeOf(r) + ", expected a dict (manifest output_key '" + m.outputKey + "')");
    const auto d = r.toGenericDict();
    for (const auto& kv : d) {
      if (!kv.key().isString() || kv.key().toStringRef() != m.outputKey) continue;
      if (!kv.value().isTensor())
        return badInput("wrong output type: entry '" + m.outputKey + "' is " + typeOf(kv.value()) + ", expected a tensor");
      return kv.value().toTensor();
    }
    std::string keys;
    for (const auto& kv : d)
      if (kv.key().isString()) keys += (keys.empty() ? "" : ", ") + std::string("'") + kv.key().toStringRef() + "'";
    return badInput("wrong output type: the dict has no entry '" + m.outputKey + "' (manifest output_key; it has " +
                    (keys.empty() ? std::string("no string keys") : keys) + ")");
  }
  if (r.isTensor()) return r.toTensor();
  const std::string hint = many ? " (set the manifest field output_index to the element with the class scores)"
                           : r.isGenericDict() ? " (set the manifest field output_key to the entry with the class scores)"
                                               : "";
  return badInput("wrong output type: " + typeOf(r) + ", expected a tensor" + hint);
}

}  // namespace cvgate
