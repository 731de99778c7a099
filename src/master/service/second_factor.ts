// The second factor: TOTP (RFC 6238) through `otpauth`, enrolled with a QR code and a confirming code,
// its secret sealed at rest, each time step usable once; ten recovery codes shown once and stored as
// hashes, each usable once. An admin can reset another user's second factor.
import * as OTPAuth from "otpauth";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { qrSvg } from "../../core/qr.ts";
import { sha256Hex } from "../../core/seal.ts";
import { passkeysRepo, recoveryRepo, totpRepo } from "../db/auth_repo.ts";
import type { Db } from "../db/db.ts";
import { sessionsRepo, usersRepo } from "../db/users_repo.ts";
import { requireAdmin } from "./accounts.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { SecretBox } from "./secret_box.ts";
import { parseInput } from "./validate.ts";

export const TOTP_ISSUER = "WireBuddy";
const PERIOD_S = 30;
const RECOVERY_CODES = 10;

export const CodeSchema = z.object({
  code: z.string().trim().min(6, "must be a 6-digit code or a recovery code").max(
    40,
    "must be a 6-digit code or a recovery code",
  ),
});

export type SecondFactorStatus = {
  totp: boolean;
  totpPending: boolean;
  recoveryRemaining: number;
  passkeys: number;
};
export type TotpEnrolment = { secret: string; uri: string; qrSvg: string };

/** The TOTP object for a user's secret (SHA-1, 6 digits, 30 s: what every authenticator app reads). */
export function totpFor(secretBase32: string, username: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({
    issuer: TOTP_ISSUER,
    label: username,
    secret: OTPAuth.Secret.fromBase32(secretBase32),
    algorithm: "SHA1",
    digits: 6,
    period: PERIOD_S,
  });
}

/** A recovery code as shown: `xxxxx-xxxxx` from an alphabet without look-alikes. */
function newRecoveryCode(): string {
  const alphabet = "abcdefghjkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  const chars = [...bytes].map((b) => alphabet[b % alphabet.length]).join("");
  return `${chars.slice(0, 5)}-${chars.slice(5)}`;
}
const normalizeRecovery = (code: string) => code.toLowerCase().replace(/[^a-z0-9]/g, "");
const recoveryHash = (userId: number, code: string) =>
  sha256Hex(`recovery:${userId}:${normalizeRecovery(code)}`);
const sealContext = (userId: number) => `totp:${userId}`;

function selfUser(actor: Actor): Extract<Actor, { kind: "user" }> {
  if (actor.kind !== "user") {
    throw new AppError("forbidden", "Only a signed-in user can change their sign-in");
  }
  return actor;
}

export class SecondFactorService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly secrets: SecretBox,
  ) {}

  status(userId: number): SecondFactorStatus {
    const t = totpRepo.get(this.db, userId);
    return {
      totp: !!t?.confirmed_at,
      totpPending: !!t && !t.confirmed_at,
      recoveryRemaining: recoveryRepo.remaining(this.db, userId),
      passkeys: passkeysRepo.countForUser(this.db, userId),
    };
  }

  /** Whether the user must give a second factor after the password. */
  hasTotp(userId: number): boolean {
    return !!totpRepo.get(this.db, userId)?.confirmed_at;
  }

  /** Whether the user has any second factor (an authenticator app or a passkey). */
  hasSecondFactor(userId: number): boolean {
    return this.hasTotp(userId) || passkeysRepo.countForUser(this.db, userId) > 0;
  }

  /** Starts (or restarts) enrolment: a new secret, sealed, waiting for a confirming code. */
  async beginTotp(actor: Actor, meta: RequestMeta | null): Promise<TotpEnrolment> {
    const user = selfUser(actor);
    if (this.hasTotp(user.userId)) {
      throw new AppError("conflict", "An authenticator app is already set up: remove it first");
    }
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    const sealed = await this.secrets.seal(secret, sealContext(user.userId));
    this.db.tx(() => {
      totpRepo.put(this.db, user.userId, sealed, this.clock.now());
      this.audit.record(actor, meta, { action: "totp.enrol_start", target: user.username });
    });
    return await this.#enrolment(secret, user.username);
  }

  /** The pending enrolment's QR code again (a re-rendered form), or null when none is pending. */
  async pendingTotp(actor: Actor): Promise<TotpEnrolment | null> {
    const user = selfUser(actor);
    const t = totpRepo.get(this.db, user.userId);
    if (!t || t.confirmed_at) return null;
    return await this.#enrolment(
      await this.secrets.open(t.secret_sealed, sealContext(user.userId)),
      user.username,
    );
  }

  async #enrolment(secret: string, username: string): Promise<TotpEnrolment> {
    const uri = totpFor(secret, username).toString();
    return { secret, uri, qrSvg: await qrSvg(uri) };
  }

  /** Confirms enrolment with a code from the app; returns the recovery codes (shown once). */
  async confirmTotp(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<string[]> {
    const user = selfUser(actor);
    const { code } = parseInput(CodeSchema, input, "code");
    const t = totpRepo.get(this.db, user.userId);
    if (!t || t.confirmed_at) throw new AppError("conflict", "No authenticator app enrolment is in progress");
    const secret = await this.secrets.open(t.secret_sealed, sealContext(user.userId));
    const step = this.#matchStep(secret, user.username, code);
    if (step === null) {
      throw new AppError(
        "validation",
        "That code is not the current one: check the app's clock and try again",
        {
          fields: [{ field: "code", message: "is not the current code" }],
        },
      );
    }
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    const hashes = await Promise.all(codes.map((c) => recoveryHash(user.userId, c)));
    this.db.tx(() => {
      totpRepo.confirm(this.db, user.userId, this.clock.now(), step);
      recoveryRepo.replace(this.db, user.userId, hashes);
      this.audit.record(actor, meta, { action: "totp.enable", target: user.username });
    });
    return codes;
  }

  /** New recovery codes for a user with TOTP (the old ones stop working). */
  async regenerateRecovery(actor: Actor, meta: RequestMeta | null): Promise<string[]> {
    const user = selfUser(actor);
    if (!this.hasTotp(user.userId)) throw new AppError("conflict", "Set up an authenticator app first");
    const codes = Array.from({ length: RECOVERY_CODES }, newRecoveryCode);
    const hashes = await Promise.all(codes.map((c) => recoveryHash(user.userId, c)));
    this.db.tx(() => {
      recoveryRepo.replace(this.db, user.userId, hashes);
      this.audit.record(actor, meta, { action: "recovery.regenerate", target: user.username });
    });
    return codes;
  }

  /** A user removes their own authenticator app; the current code proves they still hold it. */
  async disableTotp(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<void> {
    const user = selfUser(actor);
    const { code } = parseInput(CodeSchema, input, "code");
    if (!this.hasTotp(user.userId)) throw new AppError("conflict", "No authenticator app is set up");
    if (!(await this.verify(user.userId, user.username, code))) {
      throw new AppError("validation", "That code is wrong or was already used", {
        fields: [{ field: "code", message: "is wrong or was already used" }],
      });
    }
    this.db.tx(() => {
      totpRepo.delete(this.db, user.userId);
      recoveryRepo.deleteForUser(this.db, user.userId);
      this.audit.record(actor, meta, { action: "totp.disable", target: user.username });
    });
  }

  /** An admin resets another user's second factor (lost phone): app, recovery codes, passkeys, sessions. */
  resetFor(actor: Actor, meta: RequestMeta | null, userId: number): void {
    requireAdmin(actor);
    this.db.tx(() => {
      const u = usersRepo.byId(this.db, userId);
      if (!u) throw new AppError("not_found", `User ${userId} not found`);
      const totp = totpRepo.delete(this.db, userId);
      recoveryRepo.deleteForUser(this.db, userId);
      const passkeys = passkeysRepo.deleteForUser(this.db, userId);
      sessionsRepo.deleteForUser(this.db, userId);
      this.audit.record(actor, meta, {
        action: "user.second_factor_reset",
        target: u.username,
        detail: `totp=${totp > 0 ? "removed" : "none"} passkeys=${passkeys}`,
      });
    });
  }

  /**
   * Checks a TOTP code (this step or one either side, each step used once) or a recovery code (used
   * once). Returns what matched, or null.
   */
  async verify(userId: number, username: string, code: string): Promise<"totp" | "recovery" | null> {
    const t = totpRepo.get(this.db, userId);
    if (!t?.confirmed_at) return null;
    const digits = code.replace(/\s/g, "");
    if (/^\d{6}$/.test(digits)) {
      const step = this.#matchStep(
        await this.secrets.open(t.secret_sealed, sealContext(userId)),
        username,
        digits,
      );
      if (step === null) return null;
      return totpRepo.useStep(this.db, userId, step) > 0 ? "totp" : null;
    }
    const hash = await recoveryHash(userId, code);
    return recoveryRepo.use(this.db, userId, hash, this.clock.now()) > 0 ? "recovery" : null;
  }

  /** The time step a code belongs to (now ±1 step), or null. */
  #matchStep(secret: string, username: string, code: string): number | null {
    const now = this.clock.now();
    const delta = totpFor(secret, username).validate({
      token: code.replace(/\s/g, ""),
      timestamp: now,
      window: 1,
    });
    if (delta === null) return null;
    return Math.floor(now / 1000 / PERIOD_S) + delta;
  }
}
