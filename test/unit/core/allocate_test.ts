import assert from "node:assert/strict";
import { nextFreeAddress, nextFreeAddresses } from "../../../src/core/allocate.ts";
import { AppError } from "../../../src/core/errors.ts";

const CASES: { name: string; pool: string; used: string[]; reserved?: string[]; expected: string }[] = [
  {
    name: "skips the network and the server's own address",
    pool: "10.13.13.1/24",
    used: [],
    expected: "10.13.13.2/32",
  },
  {
    name: "skips the network when the server is not the first host",
    pool: "10.13.13.254/24",
    used: [],
    expected: "10.13.13.1/32",
  },
  {
    name: "skips the server's address in the middle of the pool",
    pool: "10.13.13.3/24",
    used: ["10.13.13.1/32", "10.13.13.2/32"],
    expected: "10.13.13.4/32",
  },
  {
    name: "fills the lowest gap first",
    pool: "10.13.13.1/24",
    used: ["10.13.13.2/32", "10.13.13.4/32", "10.13.13.3/32", "10.13.13.6/32"],
    expected: "10.13.13.5/32",
  },
  {
    name: "reads used entries without a prefix",
    pool: "10.13.13.1/24",
    used: ["10.13.13.2", "10.13.13.3"],
    expected: "10.13.13.4/32",
  },
  {
    name: "treats a wider used CIDR as a whole block",
    pool: "10.13.13.1/24",
    used: ["10.13.13.0/28"],
    expected: "10.13.13.16/32",
  },
  {
    name: "jumps over overlapping used ranges",
    pool: "10.13.13.1/24",
    used: ["10.13.13.0/27", "10.13.13.8/29", "10.13.13.32/32", "10.13.13.16/28"],
    expected: "10.13.13.33/32",
  },
  {
    name: "ignores used addresses outside the pool and of the other family",
    pool: "10.13.13.1/24",
    used: ["10.13.14.2/32", "10.13.12.2/32", "fd42::2/128", "10.13.14.0/24"],
    expected: "10.13.13.2/32",
  },
  {
    name: "skips reserved addresses",
    pool: "10.13.13.1/24",
    used: ["10.13.13.2/32"],
    reserved: ["10.13.13.3", "10.13.13.4/31"],
    expected: "10.13.13.6/32",
  },
  {
    name: "never hands out the IPv4 broadcast address",
    pool: "10.13.13.1/30",
    used: [],
    expected: "10.13.13.2/32",
  },
  {
    name: "counts across octet boundaries",
    pool: "10.13.0.1/16",
    used: Array.from({ length: 254 }, (_, i) => `10.13.0.${i + 2}/32`),
    expected: "10.13.1.0/32",
  },
  { name: "uses both addresses of a /31", pool: "10.0.0.1/31", used: [], expected: "10.0.0.0/32" },
  { name: "allocates in an IPv6 pool as /128", pool: "fd42:13::1/64", used: [], expected: "fd42:13::2/128" },
  {
    name: "fills gaps in an IPv6 pool",
    pool: "fd42::1/112",
    used: ["fd42::2/128", "FD42::3/128", "fd42::5"],
    expected: "fd42::4/128",
  },
  {
    name: "uses the last address of an IPv6 pool (no broadcast in IPv6)",
    pool: "fd42::1/126",
    used: ["fd42::2/128"],
    expected: "fd42::3/128",
  },
  {
    name: "jumps a used range of more than 2^53 addresses in a /64",
    pool: "fd42::1/64",
    used: ["fd42::/72"],
    expected: "fd42::100:0:0:0/128",
  },
  {
    name: "ignores IPv4 addresses for an IPv6 pool",
    pool: "fd42::1/64",
    used: ["10.13.13.2/32", "fd42::2/128"],
    expected: "fd42::3/128",
  },
];

for (const c of CASES) {
  Deno.test(`nextFreeAddress() ${c.name}`, () => {
    assert.equal(nextFreeAddress(c.pool, c.used, c.reserved), c.expected);
  });
}

Deno.test("nextFreeAddress() accepts any iterable of used addresses, such as a Set", () => {
  assert.equal(nextFreeAddress("10.13.13.1/24", new Set(["10.13.13.2/32"])), "10.13.13.3/32");
});

const FULL: { name: string; pool: string; used: string[] }[] = [
  {
    name: "an IPv4 /24 whose 253 client addresses are used",
    pool: "10.13.13.1/24",
    used: Array.from({ length: 253 }, (_, i) => `10.13.13.${i + 2}/32`),
  },
  { name: "a /30 whose one other host is used", pool: "10.13.13.1/30", used: ["10.13.13.2/32"] },
  { name: "a /32 (only the server's address)", pool: "10.13.13.1/32", used: [] },
  { name: "an IPv6 /120 blocked by a wider used range", pool: "fd42::1/120", used: ["fd42::/64"] },
];

for (const c of FULL) {
  Deno.test(`nextFreeAddress() reports a full pool as a conflict: ${c.name}`, () => {
    assert.throws(() => nextFreeAddress(c.pool, c.used), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "conflict");
      assert.match(err.message, /No free address left in /);
      assert.match(err.publicMessage, /is full/);
      return true;
    });
  });
}

Deno.test("nextFreeAddress() throws on a malformed used entry rather than risk a duplicate", () => {
  assert.throws(() => nextFreeAddress("10.13.13.1/24", ["10.13.13.02/32"]), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "validation");
    return true;
  });
});

Deno.test("nextFreeAddress() rejects a malformed pool", () => {
  assert.throws(() => nextFreeAddress("10.13.13.1", []), AppError);
  assert.throws(() => nextFreeAddress("10.13.13.1/33", []), AppError);
});

Deno.test("nextFreeAddresses() gives distinct lowest addresses in order", () => {
  assert.deepEqual(nextFreeAddresses("10.13.13.1/24", ["10.13.13.3/32", "10.13.13.5/32"], 4), [
    "10.13.13.2/32",
    "10.13.13.4/32",
    "10.13.13.6/32",
    "10.13.13.7/32",
  ]);
  assert.deepEqual(nextFreeAddresses("10.13.13.1/24", [], 0), []);
});

Deno.test("nextFreeAddresses() fails as a whole when too few addresses are free", () => {
  assert.throws(() => nextFreeAddresses("10.13.13.1/29", [], 6), (err: unknown) => {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, "conflict");
    assert.match(err.message, /Only 5 free addresses left in 10\.13\.13\.1\/29, 6 needed/);
    return true;
  });
});

Deno.test("allocating one at a time fills a pool with distinct addresses and then reports it full", () => {
  const used: string[] = [];
  for (let i = 0; i < 61; i++) used.push(nextFreeAddress("10.13.13.1/26", used));
  assert.equal(new Set(used).size, 61);
  assert.ok(
    !used.includes("10.13.13.0/32") && !used.includes("10.13.13.1/32") && !used.includes("10.13.13.63/32"),
  );
  assert.throws(() => nextFreeAddress("10.13.13.1/26", used), AppError);
});

Deno.test("nextFreeAddress() finds the gap after 100,000 used addresses (IPv4 and IPv6)", () => {
  const v4: string[] = [], v6: string[] = [];
  for (let i = 2; i < 100_002; i++) {
    if (i === 77_777) continue;
    v4.push(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`);
    v6.push(`fd42::${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}/128`);
  }
  assert.equal(nextFreeAddress("10.0.0.1/8", v4), "10.1.47.209/32");
  assert.equal(nextFreeAddress("fd42::1/64", v6), "fd42::1:2fd1/128");
});

Deno.test("nextFreeAddress() searches past used ranges wider than 2^53 addresses", () => {
  assert.equal(nextFreeAddress("fd42::1/64", ["fd42::/72", "fd42::100:0:0:0/72"]), "fd42::200:0:0:0/128");
  assert.equal(
    nextFreeAddress("fd42::1/64", ["fd42::/65", "fd42::8000:0:0:0/128"]),
    "fd42::8000:0:0:1/128",
  );
  assert.throws(() => nextFreeAddress("fd42::1/64", ["fd42::/65", "fd42::8000:0:0:0/65"]), AppError);
});
