# workerd configuration for the example: `node build.mjs MODEL.kiln`, then `npx workerd serve config.capnp`.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .worker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const worker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "build/worker.js"),
    (name = "kiln.wasm", wasm = embed "build/kiln.wasm"),
    (name = "model.kiln", data = embed "build/model.kiln"),
  ],
  compatibilityDate = "2026-11-01",
);
