/**
 * What the Worker's bundle is made of: bytes per package from esbuild's metafiles of the
 * `wrangler deploy --dry-run` build (minified, as deployed) and of the same build unminified, and the gzip
 * bytes the unminified bundle would lose without each package (gzipped with that package's modules cut
 * out) — roughly what dropping it would save.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildWorkerBundle } from "../../scripts/lib/worker-bundle.js";

/** One package's share of the bundle. */
export interface BundlePart {
  /** npm package, or "src (the bot's own code)". */
  name: string;
  /** Bytes of its modules in the unminified build, from its metafile. */
  rawBytes: number;
  /** In the unminified build: gzip(bundle) − gzip(bundle without its modules). */
  gzipSavedBytes: number;
  /** Bytes of its modules in the bundle as deployed (minified), from its metafile. */
  minifiedRawBytes: number;
}

export interface BundleAnalysis {
  /** The same build unminified, whose modules can be told apart. */
  unminified: { rawBytes: number; gzipBytes: number };
  /** Largest first. */
  parts: BundlePart[];
}

interface Metafile {
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

const OWN_CODE = "src (the bot's own code)";

/** The package a module path belongs to (`node_modules/@scope/name/...` → `@scope/name`). */
export function packageOf(path: string): string {
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  return match?.[1] ?? OWN_CODE;
}

/**
 * Each module's text in an unminified esbuild bundle, by the `// node_modules/…` or `// src/…` comment
 * esbuild puts before it; the text before the first one (esbuild's helpers) belongs to no package.
 */
function segments(bundle: string): { name: string; text: string }[] {
  const lines = bundle.split("\n");
  const parts: { name: string; text: string[] }[] = [{ name: "(bundle prelude)", text: [] }];
  for (const line of lines) {
    const path = /^\/\/ ((?:node_modules|src)\/\S+)$/.exec(line)?.[1];
    if (path !== undefined) parts.push({ name: packageOf(path), text: [] });
    parts.at(-1)!.text.push(line);
  }
  return parts.map((part) => ({ name: part.name, text: part.text.join("\n") }));
}

/** Bytes per package in the output of an esbuild metafile. */
function bytesByPackage(metafilePath: string): Map<string, number> {
  const metafile = JSON.parse(readFileSync(metafilePath, "utf8")) as Metafile;
  const output = Object.values(metafile.outputs).find((entry) => Object.keys(entry.inputs).length > 0);
  if (output === undefined) throw new Error(`no output with inputs in ${metafilePath}`);
  const bytes = new Map<string, number>();
  for (const [path, input] of Object.entries(output.inputs)) bytes.set(packageOf(path), (bytes.get(packageOf(path)) ?? 0) + input.bytesInOutput);
  return bytes;
}

/**
 * What the Worker's bundle (as deployed, minified, built with `metafilePath`) is made of, per package,
 * read off the same build unminified (in `outDir`), where each module is marked.
 */
export async function analyseWorkerBundle(metafilePath: string, outDir: string): Promise<BundleAnalysis> {
  const unminifiedDir = join(outDir, "worker-unminified");
  rmSync(unminifiedDir, { recursive: true, force: true });
  const unminifiedMetafile = join(outDir, "worker-unminified-meta.json");
  const unminified = await buildWorkerBundle(unminifiedDir, undefined, { unminified: true, metafile: unminifiedMetafile });
  const bundle = readFileSync(unminified.path, "utf8");
  const gzipBytes = gzipSync(bundle).length;
  const pieces = segments(bundle);
  const minifiedBytes = bytesByPackage(metafilePath);
  const parts = [...bytesByPackage(unminifiedMetafile)].map(([name, rawBytes]) => {
    const without = pieces
      .filter((piece) => piece.name !== name)
      .map((piece) => piece.text)
      .join("\n");
    return { name, rawBytes, gzipSavedBytes: gzipBytes - gzipSync(without).length, minifiedRawBytes: minifiedBytes.get(name) ?? 0 };
  });
  return {
    unminified: { rawBytes: unminified.rawBytes, gzipBytes },
    parts: parts.sort((a, b) => b.rawBytes - a.rawBytes),
  };
}
