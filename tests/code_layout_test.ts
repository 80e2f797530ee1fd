/**
 * The layout rules (.ci/layout.ts) on this repository, and the checker itself on small crafted trees, so that a
 * rule that stopped catching anything would fail here.
 */
import assert from "node:assert/strict";
import {
  cycles,
  folderGraph,
  importGraph,
  importsOf,
  layoutViolations,
  libToTasks,
  type SourceFile,
  staleFileNames,
} from "../.ci/layout.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

Deno.test("layoutViolations() finds no cycle, no lib → tasks path and no stale file name in this repository", async () => {
  assert.deepEqual(await layoutViolations(ROOT), []);
});

Deno.test("importsOf() reads static, type-only, re-export, dynamic and worker-URL imports, not packages", () => {
  const file: SourceFile = {
    path: "lib/a/x.ts",
    text: [
      'import * as tf from "@tensorflow/tfjs-core";',
      'import { b } from "./b.ts";',
      'import type { C } from "../c/mod.ts";',
      'export { d } from "../d/d.ts";',
      'const e = await import("./e.ts");',
      'new Worker(new URL("./w.ts", import.meta.url).href);',
      '// import { gone } from "./commented.ts";',
    ].join("\n"),
  };
  assert.deepEqual(importsOf(file), ["lib/a/b.ts", "lib/a/e.ts", "lib/a/w.ts", "lib/c/mod.ts", "lib/d/d.ts"]);
});

Deno.test("cycles() reports a strongly connected group and leaves a chain alone", () => {
  const files: SourceFile[] = [
    { path: "lib/a/a.ts", text: 'import "../b/b.ts";' },
    { path: "lib/b/b.ts", text: 'import "../c/c.ts";' },
    { path: "lib/c/c.ts", text: 'import "../a/a.ts";' },
    { path: "lib/d/d.ts", text: 'import "../a/a.ts";' },
  ];
  const graph = importGraph(files);
  assert.deepEqual(cycles(graph), [["lib/a/a.ts", "lib/b/b.ts", "lib/c/c.ts"]]);
  assert.deepEqual(cycles(folderGraph(graph)), [["lib/a", "lib/b", "lib/c"]]);
  assert.deepEqual(cycles(importGraph(files.slice(1))), []);
});

Deno.test("libToTasks() flags a lib file that imports tasks/ or spawns deno task", () => {
  const files: SourceFile[] = [
    { path: "lib/a/x.ts", text: 'import { main } from "../../tasks/ap.ts";' },
    { path: "lib/a/y.ts", text: 'new Deno.Command(Deno.execPath(), { args: ["task", "-q", "ap"] });' },
    { path: "tasks/z.ts", text: 'new Deno.Command(Deno.execPath(), { args: ["task", "ap"] });' },
  ];
  assert.deepEqual(libToTasks(files), ["lib/a/x.ts imports tasks/ap.ts", "lib/a/y.ts spawns `deno task`"]);
});

Deno.test("staleFileNames() flags our missing files and folders, not other projects' files or placeholders", () => {
  const files: SourceFile[] = [{
    path: "lib/a/x.ts",
    text: [
      "/**",
      " * See lib/a/there.ts and lib/a/gone.ts, ./there.ts, sibling gone2.ts, lib/nothing/ and lib/a/.",
      " * Other projects: src/io/types.ts, cocoeval.py; placeholders: tasks/<name>.ts, tests/*.ts.",
      " */",
      "const s = 'lib/ignored.ts'; // but lib/b/gone3.ts is a comment",
    ].join("\n"),
  }];
  const have = new Set(["lib/a/there.ts", "lib/a"]);
  assert.deepEqual(staleFileNames(files, (p) => have.has(p)), [
    "lib/a/x.ts:2: names lib/a/gone.ts, which does not exist",
    "lib/a/x.ts:2: names gone2.ts, which does not exist",
    "lib/a/x.ts:2: names lib/nothing/, which does not exist",
    "lib/a/x.ts:5: names lib/b/gone3.ts, which does not exist",
  ]);
});
