// Passkeys (WebAuthn) through @simplewebauthn/server: several per user with names, sign-in with a passkey
// alone (discoverable credentials), removal, and the signature counter checked. The relying party comes
// from the public URL: its host name is the RP id (a domain, not an IP address) and its origin the only
// origin accepted; both are checked when the master starts.
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import { isIP } from "node:net";
import { z } from "zod";
import { AppError } from "../../core/errors.ts";
import type { Clock } from "../../core/ports/types.ts";
import { fromBase64Url, sha256Hex, toBase64Url } from "../../core/seal.ts";
import { type ChallengeKind, challengesRepo, passkeysRepo } from "../db/auth_repo.ts";
import type { Db } from "../db/db.ts";
import { usersRepo } from "../db/users_repo.ts";
import type { AuditService } from "./audit.ts";
import type { Actor, RequestMeta } from "./context.ts";
import type { LoginService, Session } from "./login.ts";
import { ipKey, type LoginThrottle } from "./login_throttle.ts";
import { parseInput } from "./validate.ts";

export type RelyingParty = { id: string; origin: string; name: string };
const CEREMONY_TTL_MS = 5 * 60_000;
/** Open ceremonies of one kind at most (unauthenticated sign-in options must not fill the database). */
const MAX_CEREMONIES = 5_000;

/** The relying party of a public URL, or why passkeys cannot work there (shown in the log at start). */
export function relyingParty(publicUrl: URL): { ok: true; rp: RelyingParty } | { ok: false; reason: string } {
  const host = publicUrl.hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) {
    return {
      ok: false,
      reason: `the public URL's host ${host} is an IP address; passkeys need a domain name`,
    };
  }
  if (publicUrl.protocol !== "https:" && host !== "localhost") {
    return {
      ok: false,
      reason: `the public URL ${publicUrl.origin} is not https (passkeys need a secure context)`,
    };
  }
  return { ok: true, rp: { id: host, origin: publicUrl.origin, name: "WireBuddy" } };
}

export const PasskeyNameSchema = z.object({
  // No control characters, as token, webhook and blocklist names: SQLite cut a name at a NUL.
  name: z.string().trim().min(1, "is required").max(64, "must be at most 64 characters")
    .regex(/^\P{Cc}*$/u, "must not contain control characters"),
  response: z.string().min(2, "is missing: your browser did not create a passkey").max(20_000),
});

export type PasskeyView = { id: number; name: string; createdAt: number; lastUsedAt: number | null };

/** The challenge a browser signed, read from its clientDataJSON. */
function signedChallenge(clientDataJSON: unknown): string {
  try {
    const data = JSON.parse(new TextDecoder().decode(fromBase64Url(String(clientDataJSON))));
    if (typeof data.challenge === "string" && data.challenge.length < 200) return data.challenge;
  } catch {
    // fall through
  }
  throw new AppError("validation", "The passkey answer is malformed", {
    fields: [{ field: "response", message: "is malformed" }],
  });
}

function parseJson<T>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new AppError("validation", "The passkey answer is not JSON", {
      fields: [{ field: "response", message: "is not JSON" }],
    });
  }
}

export class PasskeyService {
  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly login: LoginService,
    private readonly throttle: LoginThrottle,
    readonly rp: RelyingParty,
  ) {}

  list(userId: number): PasskeyView[] {
    return passkeysRepo.forUser(this.db, userId).map((p) => ({
      id: p.id,
      name: p.name,
      createdAt: p.created_at,
      lastUsedAt: p.last_used_at,
    }));
  }

  async #remember(kind: ChallengeKind, challenge: string, userId: number | null): Promise<void> {
    const now = this.clock.now();
    const idHash = await sha256Hex(`${kind}:${challenge}`);
    this.db.tx(() => {
      challengesRepo.deleteExpired(this.db, now);
      if (challengesRepo.count(this.db, kind) >= MAX_CEREMONIES) {
        throw new AppError("unavailable", `${MAX_CEREMONIES} passkey ceremonies are already open`, {
          retryAfter: 60,
          publicMessage: "Too many passkey sign-ins are in progress. Try again in a minute.",
        });
      }
      challengesRepo.insert(this.db, {
        id_hash: idHash,
        kind,
        user_id: userId,
        data: challenge,
        expires_at: now + CEREMONY_TTL_MS,
      });
    });
  }

  /** Takes a ceremony's challenge (once): the row, or an error when it is unknown, used or expired. */
  async #take(kind: ChallengeKind, challenge: string) {
    const idHash = await sha256Hex(`${kind}:${challenge}`);
    const row = challengesRepo.get(this.db, idHash, kind);
    if (row) challengesRepo.delete(this.db, idHash);
    if (!row || row.expires_at <= this.clock.now()) {
      throw new AppError("unauthorized", "This passkey request expired or was already used: try again");
    }
    return row;
  }

  async registrationOptions(actor: Actor) {
    if (actor.kind !== "user") throw new AppError("forbidden", "Only a signed-in user can add a passkey");
    const options = await generateRegistrationOptions({
      rpName: this.rp.name,
      rpID: this.rp.id,
      userName: actor.username,
      userID: new TextEncoder().encode(`wb-user-${actor.userId}`),
      attestationType: "none",
      excludeCredentials: passkeysRepo.forUser(this.db, actor.userId).map((p) => ({ id: p.credential_id })),
      authenticatorSelection: { residentKey: "required", userVerification: "preferred" },
    });
    await this.#remember("passkey_register", options.challenge, actor.userId);
    return options;
  }

  async register(actor: Actor, meta: RequestMeta | null, input: unknown): Promise<PasskeyView> {
    if (actor.kind !== "user") throw new AppError("forbidden", "Only a signed-in user can add a passkey");
    const data = parseInput(PasskeyNameSchema, input, "passkey");
    const response = parseJson<RegistrationResponseJSON>(data.response);
    const challenge = signedChallenge(response?.response?.clientDataJSON);
    const row = await this.#take("passkey_register", challenge);
    if (row.user_id !== actor.userId) {
      throw new AppError("forbidden", "This passkey request is another user's");
    }
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: this.rp.origin,
      expectedRPID: this.rp.id,
      requireUserVerification: false,
    }).catch((err) => {
      throw new AppError("validation", `The passkey was not accepted: ${(err as Error).message}`, {
        fields: [{ field: "response", message: "was not accepted" }],
      });
    });
    if (!result.verified) throw new AppError("validation", "The passkey was not accepted");
    const cred = result.registrationInfo.credential;
    const id = this.db.tx(() => {
      if (passkeysRepo.byCredential(this.db, cred.id)) {
        throw new AppError("conflict", "This passkey is already registered");
      }
      const id = passkeysRepo.insert(this.db, {
        user_id: actor.userId,
        credential_id: cred.id,
        public_key: toBase64Url(cred.publicKey),
        counter: cred.counter,
        transports: (cred.transports ?? []).join(","),
        name: data.name,
        created_at: this.clock.now(),
      });
      this.audit.record(actor, meta, {
        action: "passkey.add",
        target: actor.username,
        detail: `name=${data.name}`,
      });
      return id;
    });
    return this.list(actor.userId).find((p) => p.id === id)!;
  }

  remove(actor: Actor, meta: RequestMeta | null, id: number): void {
    if (actor.kind !== "user") throw new AppError("forbidden", "Only a signed-in user can remove a passkey");
    this.db.tx(() => {
      const p = passkeysRepo.byId(this.db, id);
      if (!p || p.user_id !== actor.userId) throw new AppError("not_found", `Passkey ${id} not found`);
      passkeysRepo.delete(this.db, id);
      this.audit.record(actor, meta, {
        action: "passkey.remove",
        target: actor.username,
        detail: `name=${p.name}`,
      });
    });
  }

  async authenticationOptions() {
    const options = await generateAuthenticationOptions({ rpID: this.rp.id, userVerification: "preferred" });
    await this.#remember("passkey_login", options.challenge, null);
    return options;
  }

  /** Signs in with a passkey alone: throttled per address, the counter must grow (else: a cloned key). */
  async signIn(meta: RequestMeta, responseText: string): Promise<Session> {
    this.throttle.reserve([ipKey(meta)], "(passkey)", meta);
    const response = parseJson<AuthenticationResponseJSON>(responseText);
    const challenge = signedChallenge(response?.response?.clientDataJSON);
    await this.#take("passkey_login", challenge);
    const stored = typeof response.id === "string"
      ? passkeysRepo.byCredential(this.db, response.id)
      : undefined;
    const user = stored ? usersRepo.byId(this.db, stored.user_id) : undefined;
    if (!stored || !user) {
      this.audit.record("(passkey)", meta, { action: "login.failure", detail: "unknown passkey" });
      throw new AppError("unauthorized", "This passkey is not registered here");
    }
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge: challenge,
      expectedOrigin: this.rp.origin,
      expectedRPID: this.rp.id,
      credential: {
        id: stored.credential_id,
        publicKey: fromBase64Url(stored.public_key),
        counter: stored.counter,
        transports: stored.transports ? stored.transports.split(",") : [],
      },
      requireUserVerification: false,
    }).catch((err) => {
      this.audit.record(user.username, meta, {
        action: "login.failure",
        target: user.username,
        detail: "passkey",
      });
      throw new AppError("unauthorized", `The passkey was not accepted: ${(err as Error).message}`, {
        publicMessage: "The passkey was not accepted.",
      });
    });
    const counter = result.authenticationInfo.newCounter;
    if (!result.verified || passkeysRepo.use(this.db, stored.id, counter, this.clock.now()) === 0) {
      this.audit.record(user.username, meta, {
        action: "login.failure",
        target: user.username,
        detail: `passkey counter ${counter} did not grow past ${stored.counter}`,
      });
      throw new AppError(
        "unauthorized",
        "The passkey was not accepted (its counter went backwards: a cloned key?)",
      );
    }
    return await this.login.startSession(user, meta, "passkey");
  }
}
