// The OCI runtime-spec config.json model (1.0.x through 1.2).
//
// CONTRACT (other code is written against these names; the model may grow, not rename):
//   kata::oci::Spec                          the typed model; every struct keeps the JSON members it
//                                            does not know in `unknown` so a read-modify-write keeps them
//   Spec parseSpec(std::string_view json)    throws kata::Error(kInvalidArgument,
//                                            "<json path>: <reason>"), e.g. "process.user.uid: must be a
//                                            non-negative integer"
//   Spec loadBundleSpec(const std::string& bundleDir)   reads <bundle>/config.json (size-bounded),
//                                            parses and validates; errors say "config.json: ..."
//   nlohmann::json toJson(const Spec&)
//   void validateSpec(const Spec&)           semantic checks beyond types (throws like parseSpec)
//   nlohmann::json defaultSpec(bool rootless)  what `runc spec [--rootless]` writes
//   Fields used by other components: spec.ociVersion, spec.root->path, spec.root->readonly,
//   spec.process->terminal, spec.process->args, spec.annotations (std::map<std::string, std::string>),
//   spec.hooks->{prestart, createRuntime, createContainer, startContainer, poststart, poststop}
//   (std::vector<Hook>, see hook.h).
#pragma once
