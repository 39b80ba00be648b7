// Builds the component into dist/: the bundled script, its page, and ONNX Runtime Web's WebAssembly-only files
// copied from node_modules (so nothing is fetched from a CDN at run time). Run through scripts/build_frontend.sh.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";

const ORT_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];
const ortPackage = JSON.parse(readFileSync("node_modules/onnxruntime-web/package.json", "utf8"));

for (const part of ["main.js", "index.html", "ort"]) rmSync(`dist/${part}`, { recursive: true, force: true });
mkdirSync("dist/ort", { recursive: true });
await build({ entryPoints: ["src/main.js"], bundle: true, minify: true, format: "iife", target: "es2020", outfile: "dist/main.js" });
copyFileSync("src/index.html", "dist/index.html");
for (const name of ORT_FILES) copyFileSync(`node_modules/onnxruntime-web/dist/${name}`, `dist/ort/${name}`);
writeFileSync("dist/ort/VERSION", `onnxruntime-web ${ortPackage.version} (${ortPackage.license})\n`);
console.log(`built dist/ with onnxruntime-web ${ortPackage.version}: ${ORT_FILES.join(", ")}`);
