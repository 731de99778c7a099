import assert from "node:assert/strict";
import { AppError, STATUS_BY_CODE, toAppError } from "../../../src/core/errors.ts";

Deno.test("AppError maps each code to one status", () => {
  assert.equal(new AppError("conflict", "Node name taken").status, 409);
  assert.equal(new AppError("rate_limited", "Too many attempts").status, 429);
  assert.equal(STATUS_BY_CODE.validation, 422);
});

Deno.test("AppError never shows internals of a 5xx to the client", () => {
  const err = new AppError("internal", "SQLITE_BUSY at /var/lib/wirebuddy/wirebuddy.db");
  assert.ok(!err.publicMessage.includes("SQLITE"));
  assert.equal(new AppError("not_found", 'Node "edge-1" not found').publicMessage, 'Node "edge-1" not found');
});

Deno.test("toAppError wraps unknown errors as internal and keeps the cause", () => {
  const cause = new TypeError("boom");
  const err = toAppError(cause);
  assert.equal(err.code, "internal");
  assert.equal(err.cause, cause);
});
