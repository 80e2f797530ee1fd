import assert from "node:assert/strict";
import { formatDuration, Progress } from "../../lib/progress/mod.ts";

Deno.test("formatDuration() writes m:ss, h:mm:ss from an hour on, ? when unknown", () => {
  assert.equal(formatDuration(0), "0:00");
  assert.equal(formatDuration(9.4), "0:09");
  assert.equal(formatDuration(75), "1:15");
  assert.equal(formatDuration(3599.6), "1:00:00");
  assert.equal(formatDuration(3725), "1:02:05");
  assert.equal(formatDuration(NaN), "?");
  assert.equal(formatDuration(Infinity), "?");
  assert.equal(formatDuration(-1), "?");
});

/** Carriage return and "erase line": how the bar redraws itself. */
const CLEAR = "\r\x1b[2K";

/** A progress reporter on a fake clock that records what it writes. */
function fake(total: number | null, tty: boolean, opts = {}) {
  let t = 0;
  const out: string[] = [];
  const p = new Progress("train", total, {
    tty,
    unit: "img",
    write: (s) => out.push(s),
    now: () => t,
    ...opts,
  });
  return { p, out, tick: (ms: number) => (t += ms) };
}

Deno.test("Progress without a terminal writes a line at every 10% and at the end, with rate and ETA", () => {
  const { p, out, tick } = fake(20, false);
  for (let done = 1; done <= 20; done++) {
    tick(500);
    p.update(done, `loss ${done}`);
  }
  p.finish();
  assert.equal(out.length, 10, out.join(""));
  assert.ok(out.every((l) => l.endsWith("\n") && !l.includes("\r")));
  assert.equal(out[0], "train: 2/20 img 10% 2.00 img/s ETA 0:09 loss 2\n");
  assert.equal(out[9], "train: 20/20 img 100% 2.00 img/s done in 0:10 loss 20\n");
});

Deno.test("Progress on a terminal redraws one line in place (at most every 200 ms) and ends it", () => {
  const { p, out, tick } = fake(4, true);
  p.update(1);
  tick(100);
  p.update(2); // throttled
  tick(200);
  p.update(3);
  tick(1000);
  p.update(4);
  p.finish(); // already ended
  assert.equal(out.length, 4);
  assert.ok(out.slice(0, 3).every((l) => l.startsWith(CLEAR)), "each draw clears the line first");
  assert.match(out[0].slice(CLEAR.length), /^train \[#####\.{15}\] 1\/4 img 25% /);
  assert.match(
    out[2].slice(CLEAR.length),
    /^train \[####################\] 4\/4 img 100% [\d.]+ img\/s done in 0:01$/,
  );
  assert.equal(out[3], "\n");
});

Deno.test("Progress.log() prints a line of its own and redraws the bar under it", () => {
  const { p, out } = fake(4, true);
  p.update(1, "loss 1");
  p.log("epoch 1 done");
  assert.ok(out[1].startsWith(`${CLEAR}epoch 1 done\n`));
  assert.match(out[1].slice(CLEAR.length), /^epoch 1 done\ntrain \[.*\] 1\/4 img 25% .* loss 1$/);
  const plain = fake(4, false);
  plain.p.log("epoch 1 done");
  assert.deepEqual(plain.out, ["epoch 1 done\n"]);
});

Deno.test("Progress shows scaled units (downloads in MiB) and copes with an unknown total", () => {
  const MiB = 1048576;
  const { p, out, tick } = fake(40 * MiB, false, { unit: "MiB", scale: MiB });
  tick(2000);
  p.update(10 * MiB);
  assert.equal(out[0], "train: 10.0/40.0 MiB 25% 5.00 MiB/s ETA 0:06\n");
  const open = fake(null, false, { unit: "MiB", scale: MiB });
  open.tick(12_000);
  open.p.update(3 * MiB);
  open.p.finish();
  assert.equal(open.out[0], "train: 3.0 MiB 0.25 MiB/s elapsed 0:12\n");
  assert.equal(open.out.length, 2, "finish writes the last status");
});

Deno.test("Progress with quiet writes nothing but log lines; finish() ends an unfinished report", () => {
  const q = fake(10, false, { quiet: true });
  q.p.update(10);
  q.p.finish();
  q.p.log("kept");
  assert.deepEqual(q.out, ["kept\n"]);
  const { p, out, tick } = fake(10, false);
  tick(1000);
  p.update(3);
  p.finish("stopped");
  assert.equal(out.at(-1), "train: 3/10 img 30% 3.00 img/s ETA 0:02 stopped\n");
});

Deno.test("Progress shows control characters of its label, extra and log lines as escapes (its own redraw stays)", () => {
  const out: string[] = [];
  const p = new Progress("decode \x1b]0;t\x07\n", 2, { tty: true, write: (s) => out.push(s), now: () => 0 });
  p.update(1, "file \x1b[2J\r.png");
  p.log("warning: a\x1b[31m.png\nnext line");
  p.finish();
  assert.ok(out.every((s) => s.startsWith(CLEAR)), "the redraw's own CR + erase-line is kept");
  const text = out.map((s) => s.replaceAll(CLEAR, "")).join("");
  // deno-lint-ignore no-control-regex
  assert.doesNotMatch(text, /[\x00-\x09\x0b-\x1f\x7f-\x9f]/);
  assert.match(text, /^decode \\x1b\]0;t\\x07\\n \[#{10}\.{10}\] 1\/2 it 50% .* file \\x1b\[2J\\r\.png/);
  assert.match(text, /warning: a\\x1b\[31m\.png\nnext line\n/);
});
