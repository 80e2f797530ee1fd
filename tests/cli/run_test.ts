import assert from "node:assert/strict";
import { InputError } from "../../lib/core/mod.ts";
import { ArtifactError } from "../../lib/core/mod.ts";
import { HelpRequested, isKnownError, outcomeOf, runCli, UsageError } from "../../lib/cli/mod.ts";
import { DatasetError } from "../../lib/data/mod.ts";
import { TorchFormatError } from "../../lib/torch/mod.ts";
import { NonFiniteLossError } from "../../lib/train/mod.ts";

Deno.test("outcomeOf() sends help to stdout with exit 0", () => {
  assert.deepEqual(outcomeOf("ap", new HelpRequested("usage: …"), false), {
    code: 0,
    stdout: ["usage: …"],
    stderr: [],
  });
});

Deno.test("outcomeOf() turns a usage error into two lines on stderr and exit 2", () => {
  const o = outcomeOf("finetune", new UsageError("unknown flag --epoch (did you mean --epochs?)"), false);
  assert.deepEqual(o, {
    code: 2,
    stdout: [],
    stderr: ["finetune: unknown flag --epoch (did you mean --epochs?)", "see deno task finetune --help"],
  });
});

Deno.test("outcomeOf() shows a known input problem as one clean message, exit 1, a stack only with debug", () => {
  const known = [
    new InputError("x"),
    new ArtifactError("run/dataset.json", ["not valid JSON"]),
    new DatasetError([{ file: "a.png", message: "truncated" }]),
    new TorchFormatError("bad pickle"),
    new NonFiniteLossError(2, 1, NaN),
    new Deno.errors.NotFound("readfile 'x.pth'"),
  ];
  for (const e of known) {
    assert.ok(isKnownError(e), e.name);
    const o = outcomeOf("ap", e, false);
    assert.equal(o.code, 1);
    assert.deepEqual(o.stderr, [`ap: ${e.message}`], e.name);
    assert.ok(!o.stderr.join("\n").includes("    at "), "no stack");
    const debug = outcomeOf("ap", e, true);
    assert.equal(debug.stderr.length, 2);
    assert.match(debug.stderr[1], /\n\s+at /, "the stack with --debug");
  }
});

Deno.test("outcomeOf() shows anything else as a bug with its stack", () => {
  const o = outcomeOf("detect", new TypeError("x is undefined"), false);
  assert.equal(o.code, 1);
  assert.match(o.stderr[0], /internal error/);
  assert.match(o.stderr[1], /^TypeError: x is undefined\n\s+at /);
  assert.deepEqual(outcomeOf("detect", "thrown string", false).stderr.at(-1), "thrown string");
});

Deno.test("runCli() returns the exit code, removes --debug from the arguments and prints the outcome", async () => {
  const seen: string[][] = [];
  const [log, error] = [console.log, console.error];
  const out: string[] = [], err: string[] = [];
  console.log = (...a: unknown[]) => out.push(a.join(" "));
  console.error = (...a: unknown[]) => err.push(a.join(" "));
  try {
    assert.equal(await runCli("t", (args) => void seen.push(args), ["--a", "--debug", "b"]), 0);
    assert.deepEqual(seen, [["--a", "b"]]);
    assert.equal(await runCli("t", () => Promise.reject(new UsageError("bad")), []), 2);
    assert.equal(await runCli("t", () => Promise.reject(new InputError("gone")), ["--debug"]), 1);
    assert.equal(await runCli("t", () => Promise.reject(new HelpRequested("help text")), []), 0);
  } finally {
    [console.log, console.error] = [log, error];
  }
  assert.deepEqual(out, ["help text"]);
  assert.deepEqual(err.slice(0, 3), ["t: bad", "see deno task t --help", "t: gone"]);
  assert.match(err[3], /InputError: gone\n\s+at /, "--debug shows the stack");
});

Deno.test("runCli() shows control characters of everything printed meanwhile as escapes, and restores console", async () => {
  const [log, error, warn] = [console.log, console.error, console.warn];
  const out: string[] = [];
  console.log = console.error = console.warn = (...a: unknown[]) => out.push(a.join(" "));
  const saved = [console.log, console.error, console.warn];
  const name = "figure\x1b[2J\x1b]0;pwned\x07\r\0";
  try {
    const code = await runCli("t", () => {
      console.log(`prepared 3 ${name} boxes`);
      console.warn("%c", { name });
      console.error("line one\nline two");
      throw new InputError(`${name}.png: not a valid PNG`);
    }, []);
    assert.equal(code, 1);
    assert.deepEqual([console.log, console.error, console.warn], saved, "console restored");
  } finally {
    [console.log, console.error, console.warn] = [log, error, warn];
  }
  assert.equal(out[0], "prepared 3 figure\\x1b[2J\\x1b]0;pwned\\x07\\r\\0 boxes");
  assert.equal(out[1], '%c { name: "figure\\x1b[2J\\x1b]0;pwned\\x07\\r\\x00" }');
  assert.equal(out[2], "line one\nline two");
  assert.equal(out[3], "t: figure\\x1b[2J\\x1b]0;pwned\\x07\\r\\0.png: not a valid PNG");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(out.join("\n"), /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
});

Deno.test("outcomeOf() makes known I/O failures one line naming the path: ENOSPC, EDQUOT, EROFS, EACCES, EIO as Deno reports them (under -A a real ENOSPC of /dev/full too)", async (t) => {
  const cases: [Error, string][] = [];
  if (Deno.build.os === "linux") {
    const full = await Deno.writeFile("/dev/full", new Uint8Array(8), { append: true }).then(
      () => null,
      (e) => e,
    );
    // Deno lets only --allow-all write a device: under `deno task test`'s flags this is NotCapable instead
    if ((full as { code?: string } | null)?.code === "ENOSPC") {
      cases.push([full, "/dev/full: no space left on device (free some space or write elsewhere) [ENOSPC]"]);
    } else console.warn(`${t.name}: no ENOSPC from /dev/full here (${full?.name}); that case is left out`);
  }
  // the errors Deno raises (class, code, message with the path) for the failures no test here can cause for real:
  // a quota needs a quota-enabled file system; EIO a failing device
  const denoError = (cls: new (m: string) => Error, code: string, message: string) =>
    Object.assign(new cls(message), { code });
  cases.push(
    [
      denoError(
        Error,
        "EDQUOT",
        "Disk quota exceeded (os error 122): writefile '/q/run/.ssd300/staging/resume.bin'",
      ),
      "/q/run/resume.bin: disk quota exceeded (free some space or write elsewhere) [EDQUOT]",
    ],
    [
      denoError(Error, "EROFS", "Read-only file system (os error 30): mkdir '/ro/run'"),
      "/ro/run: read-only file system (write elsewhere) [EROFS]",
    ],
    [
      denoError(
        Deno.errors.PermissionDenied,
        "EACCES",
        "Permission denied (os error 13): open '/x/report.html'",
      ),
      "/x/report.html: permission denied [EACCES]",
    ],
    [
      denoError(
        Error,
        "EIO",
        "Input/output error (os error 5): rename '/n/run/.ssd300/staging/a' -> '/n/run/a'",
      ),
      "/n/run/a: input/output error (a failing disk or an unreachable network file system) [EIO]",
    ],
    // no `code` (another runtime's error): the errno number in the message decides
    [
      new Error("No space left on device (os error 28): writefile '/d/x.json'"),
      "/d/x.json: no space left on device (free some space or write elsewhere) [ENOSPC]",
    ],
  );
  for (const [e, line] of cases) {
    assert.ok(isKnownError(e), e.message);
    assert.deepEqual(outcomeOf("prepare", e, false), { code: 1, stdout: [], stderr: [`prepare: ${line}`] });
  }
  // other errors with an errno stay bugs
  assert.ok(!isKnownError(Object.assign(new Error("Bad file descriptor (os error 9)"), { code: "EBADF" })));
});
