// The entry point of the npm package: the generated bindings, with the WebAssembly module
// loaded on first use (no top-level await, so every bundler's default target accepts it).
import init, { Thermocline } from "./thermocline.js";

let loading;

/**
 * Loads the WebAssembly module. Called by the static methods of `Thermocline` on first use;
 * call it first only to load the `.wasm` from somewhere else than next to this file.
 */
export function loadWasm(moduleOrPath) {
  loading ??= init(moduleOrPath === undefined ? undefined : { module_or_path: moduleOrPath });
  return loading;
}

for (const name of ["open", "destroy", "requestPersistence"]) {
  const method = Thermocline[name];
  Thermocline[name] = async (...args) => {
    await loadWasm();
    return method.apply(Thermocline, args);
  };
}

export { Thermocline };
