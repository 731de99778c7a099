import assert from "node:assert/strict";
import { DnsLogQueue } from "../../../src/node/dns/log_queue.ts";
import { AnswerCache, type LogFile, parseReplyLine, tailOnce } from "../../../src/node/dns/reply_log.ts";
import { FakeClock } from "../../support/fakes.ts";

const T = 1796096319;
const line = (sec: number, name: string, rcode = "NOERROR", client = "10.13.13.2") =>
  `[${sec}] unbound[12660:0] reply: ${client} ${name}. A IN ${rcode} 0.000297 0 53\n`;

/** A logfile in memory: rotate() renames it to `.1` and starts a new one (a new inode), like logrotate. */
class MemLog implements LogFile {
  ino = 1;
  text = "";
  old: { ino: number; text: string } | null = null;
  read(path: string, offset: number, max: number) {
    const f = path.endsWith(".1") ? this.old : { ino: this.ino, text: this.text };
    if (!f) return Promise.resolve(null);
    const all = new TextEncoder().encode(f.text);
    return Promise.resolve({ ino: f.ino, size: all.length, bytes: all.slice(offset, offset + max) });
  }
  rotate() {
    this.old = { ino: this.ino, text: this.text };
    this.ino++;
    this.text = "";
  }
}

function setup() {
  const file = new MemLog();
  const queue = new DnsLogQueue(":memory:", 1000);
  const clock = new FakeClock((T + 10) * 1000);
  const answers = new AnswerCache(clock);
  const deps = {
    file,
    path: "/var/lib/unbound/wirebuddy-replies.log",
    queue,
    answers,
    skip: () => new Set(["10.13.13.9"]),
    now: () => clock.now(),
  };
  return { file, queue, clock, answers, deps };
}
const names = (q: DnsLogQueue) => q.batch().map((e) => e.qname);

Deno.test("parseReplyLine() reads Unbound's reply lines and nothing else", () => {
  assert.deepEqual(parseReplyLine(line(T, "ads.lab.example", "REFUSED").trim()), {
    at: T * 1000,
    client: "10.13.13.2",
    qname: "ads.lab.example.",
    qtype: "A",
    rcode: "REFUSED",
    answer: "",
  });
  assert.equal(parseReplyLine(`[${T}] unbound[1:0] info: start of service (unbound 1.17.1).`), null);
  assert.equal(parseReplyLine(`[${T}] unbound[1:0] notice: init module 0: validator`), null);
});

Deno.test("tailOnce() starts at the end on first use, then takes each reply line once with dnstap's answer", async () => {
  const { file, queue, answers, deps } = setup();
  file.text = line(T, "old.example");
  assert.equal(await tailOnce(deps), 0);
  assert.deepEqual(names(queue), [], "lines from before the node read the file are not imported");
  answers.enqueue([{
    at: 0,
    client: "10.13.13.2",
    qname: "a.example.",
    qtype: "A",
    rcode: "NOERROR",
    answer: "192.0.2.1",
  }]);
  file.text += line(T, "a.example") + line(T, "b.example") +
    line(T, "hidden.example", "NOERROR", "10.13.13.9") +
    "[1] unbound[1:0] info: not a reply\n" + `[${T}] unbound[1:0] reply: 10.13.13.2 partial`;
  assert.equal(await tailOnce(deps), 4);
  assert.deepEqual(
    names(queue),
    ["a.example.", "b.example."],
    "opted-out clients skipped, partial line waits",
  );
  assert.deepEqual(queue.batch().map((e) => e.answer), ["192.0.2.1", ""]);
  assert.equal(await tailOnce(deps), 0, "nothing new: nothing taken again");
  file.text += ".example. A IN NOERROR 0.1 0 53\n";
  assert.equal(await tailOnce(deps), 1);
  assert.deepEqual(names(queue).at(-1), "partial.example.");
  assert.equal(queue.cursor()!.offset, new TextEncoder().encode(file.text).length);
});

Deno.test("tailOnce() reads a log file that appears after the first look from its first line", async () => {
  const { file, queue, deps } = setup();
  const missing = { read: () => Promise.resolve(null) };
  assert.equal(await tailOnce({ ...deps, file: missing }), 0);
  file.text = line(T, "first.example");
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["first.example."]);
});

Deno.test("tailOnce() waits until a line is old enough for its dnstap answer to have arrived", async () => {
  const { file, queue, clock, deps } = setup();
  await tailOnce(deps);
  file.text += line(T + 7, "settled.example") + line(T + 9, "fresh.example");
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["settled.example."]);
  clock.advance(2_500);
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["settled.example.", "fresh.example."]);
});

Deno.test("tailOnce() reads a rotated file to its end, then the new one; a truncated one from its start", async () => {
  const { file, queue, deps } = setup();
  await tailOnce(deps);
  file.text += line(T, "one.example");
  await tailOnce(deps);
  file.text += line(T, "late.example"); // written just before the rename, not read yet
  file.rotate();
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["one.example.", "late.example."], "the rest of the old file first");
  await tailOnce(deps);
  assert.deepEqual(names(queue).length, 2, "the new file is empty: nothing more");
  file.text = line(T, "two.example");
  await tailOnce(deps);
  await tailOnce(deps);
  file.text = line(T, "3.example"); // same inode, shorter than the offset: truncated
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["one.example.", "late.example.", "two.example.", "3.example."]);
});

Deno.test("a node that crashes before the commit reads the same lines again; after it, never again", async () => {
  const { file, queue, deps } = setup();
  await tailOnce(deps);
  file.text += line(T, "a.example") + line(T, "b.example");
  const failing = {
    cursor: () => queue.cursor(),
    enqueue: (): number => {
      throw new Error("killed before COMMIT");
    },
  };
  await assert.rejects(tailOnce({ ...deps, queue: failing }), /killed/);
  assert.deepEqual(names(queue), [], "nothing committed, the cursor did not move");
  await tailOnce(deps);
  await tailOnce(deps);
  assert.deepEqual(names(queue), ["a.example.", "b.example."], "each line exactly once");
  assert.equal(queue.ack(queue.batch().at(-1)!.seq), 2);
  await tailOnce(deps);
  assert.deepEqual(names(queue), [], "acknowledged lines are not read again");
});

Deno.test("DnsLogQueue saves the reply log's cursor in the transaction of the entries it gave", () => {
  const q = new DnsLogQueue(":memory:", 10);
  assert.equal(q.cursor(), null);
  q.enqueue([], { ino: 7, offset: 120 });
  assert.deepEqual(q.cursor(), { ino: 7, offset: 120 });
  q.enqueue([{ at: 1, client: "c", qname: "n.", qtype: "A", rcode: "NOERROR", answer: "" }], {
    ino: 7,
    offset: 200,
  });
  assert.deepEqual(q.cursor(), { ino: 7, offset: 200 });
  assert.equal(q.stats().size, 1);
  q.close();
});
