/**
 * What the Worker's bundle is made of: bytes per package from esbuild's metafile of the
 * `wrangler deploy --dry-run` build, and the gzip bytes the bundle would lose without each package
 * (the bundle gzipped with that package's modules cut out) — what dropping it would save.
 */
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { buildWorkerBundle } from "../../scripts/lib/worker-bundle.js";
import { checkStartup } from "./startup.js";

/** One package's share of the bundle. */
export interface BundlePart {
  /** npm package, or "src (the bot's own code)". */
  name: string;
  /** Bytes of its modules in the (unminified) output, from the metafile. */
  rawBytes: number;
  /** gzip(bundle) − gzip(bundle without its modules). */
  gzipSavedBytes: number;
  /** Bytes of its modules in the `--minify` build (its metafile). */
  minifiedRawBytes: number;
}

export interface BundleAnalysis {
  rawBytes: number;
  gzipBytes: number;
  /** Largest first. */
  parts: BundlePart[];
  /** The same build with `--minify`, and its startup CPU (`wrangler check startup`, median ms). */
  minified: { rawBytes: number; gzipBytes: number; startupMs: number | undefined };
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
 * What the Worker's bundle at `bundlePath` (built with `metafilePath`) is made of, per package, and the
 * same build with `--minify` (in `outDir`): its size per package and its startup CPU.
 */
export async function analyseWorkerBundle(
  bundlePath: string,
  metafilePath: string,
  outDir: string,
  startupProfiles: number,
): Promise<BundleAnalysis> {
  const bundle = readFileSync(bundlePath, "utf8");
  const gzipBytes = gzipSync(bundle).length;
  const pieces = segments(bundle);
  const minifiedDir = join(outDir, "worker-minified");
  rmSync(minifiedDir, { recursive: true, force: true });
  const minifiedMetafile = join(outDir, "worker-minified-meta.json");
  const minified = await buildWorkerBundle(minifiedDir, undefined, { minify: true, metafile: minifiedMetafile });
  const minifiedBytes = bytesByPackage(minifiedMetafile);
  const parts = [...bytesByPackage(metafilePath)].map(([name, rawBytes]) => {
    const without = pieces
      .filter((piece) => piece.name !== name)
      .map((piece) => piece.text)
      .join("\n");
    return { name, rawBytes, gzipSavedBytes: gzipBytes - gzipSync(without).length, minifiedRawBytes: minifiedBytes.get(name) ?? 0 };
  });
  const startup = await checkStartup(outDir, minified.path, startupProfiles, { minify: true }).catch(() => undefined);
  return {
    rawBytes: Buffer.byteLength(bundle),
    gzipBytes,
    parts: parts.sort((a, b) => b.rawBytes - a.rawBytes),
    minified: { rawBytes: minified.rawBytes, gzipBytes: minified.gzipBytes, startupMs: startup?.medianActiveMs },
  };
}
