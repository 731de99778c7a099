// OpenID Connect single sign-on through `openid-client`: discovery, authorization code with PKCE, state
// and nonce kept server-side for one use, the ID token's signature (JWKS), issuer, audience, expiry and
// nonce verified; a claim maps to a role (admin / viewer / none: refused); users are created just in time
// and their role follows the claim at every sign-in.
import * as oidc from "openid-client";
import { AppError } from "../../core/errors.ts";
import { isLoopback } from "../../core/env.ts";
import type { Logger } from "../../core/logger.ts";
import type { Clock } from "../../core/ports/types.ts";
import { sha256Hex } from "../../core/seal.ts";
import { challengesRepo } from "../db/auth_repo.ts";
import type { Db } from "../db/db.ts";
import { type UserRow, usersRepo } from "../db/users_repo.ts";
import type { OidcConfig } from "../config_sign_in.ts";
import type { AuditService } from "./audit.ts";
import type { RequestMeta, Role } from "./context.ts";
import type { LoginService, Session } from "./login.ts";

const FLOW_TTL_MS = 10 * 60_000;
const MAX_FLOWS = 5_000;
/** What an SSO user's password hash is: no password ever matches it. */
const NO_PASSWORD = "!sso";

type Flow = { verifier: string; nonce: string; next: string };

/** The role a claim value (a string or a list) gives, or null: refused. */
export function roleFromClaim(value: unknown, adminValues: string[], viewerValues: string[]): Role | null {
  const values = Array.isArray(value) ? value.map(String) : typeof value === "string" ? [value] : [];
  if (values.some((v) => adminValues.includes(v))) return "admin";
  if (values.some((v) => viewerValues.includes(v))) return "viewer";
  return null;
}

/** An error's message with its causes' ("invalid response encountered: JWS signature verification failed"). */
function errorChain(err: unknown): string {
  const parts: string[] = [];
  for (let e = err; e instanceof Error && parts.length < 4; e = e.cause) parts.push(e.message);
  return parts.join(": ") || String(err);
}

export class OidcService {
  #config: Promise<oidc.Configuration> | null = null;
  readonly redirectUri: string;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly audit: AuditService,
    private readonly log: Logger,
    private readonly login: LoginService,
    private readonly cfg: OidcConfig,
    publicUrl: URL,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {
    this.redirectUri = new URL("/login/sso/callback", publicUrl).href;
  }

  get label(): string {
    return this.cfg.label;
  }

  /** The provider's metadata (discovered once; a failure is retried at the next sign-in). */
  #discover(): Promise<oidc.Configuration> {
    const { issuer, clientId, clientSecret } = this.cfg;
    const insecure = issuer.protocol === "http:" && isLoopback(issuer.hostname.replace(/^\[|\]$/g, ""));
    this.#config ??= oidc.discovery(issuer, clientId, clientSecret.reveal(), undefined, {
      execute: insecure ? [oidc.allowInsecureRequests] : [],
      [oidc.customFetch]: (url, init) => this.fetchImpl(url, init as RequestInit),
    }).then((config) => {
      // Verify the ID token's JWS signature too (not only its claims), against the provider's JWKS.
      oidc.enableNonRepudiationChecks(config);
      return config;
    }).catch((err) => {
      this.#config = null;
      this.log.warn("single sign-on discovery failed", { issuer: issuer.href, err: (err as Error).message });
      throw new AppError(
        "unavailable",
        `Cannot reach the sign-in provider ${issuer.href}: ${(err as Error).message}`,
        {
          publicMessage: "The single sign-on provider cannot be reached. Try again later.",
          retryAfter: 30,
        },
      );
    });
    return this.#config;
  }

  /** Starts a sign-in: the provider's authorization URL (PKCE, state and nonce remembered for one use). */
  async start(next: string): Promise<{ url: URL; state: string }> {
    const config = await this.#discover();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const now = this.clock.now();
    const idHash = await sha256Hex(`oidc:${state}`);
    this.db.tx(() => {
      challengesRepo.deleteExpired(this.db, now);
      if (challengesRepo.count(this.db, "oidc") >= MAX_FLOWS) {
        throw new AppError("unavailable", `${MAX_FLOWS} single sign-on flows are already open`, {
          retryAfter: 60,
        });
      }
      challengesRepo.insert(this.db, {
        id_hash: idHash,
        kind: "oidc",
        user_id: null,
        data: JSON.stringify({ verifier, nonce, next } satisfies Flow),
        expires_at: now + FLOW_TTL_MS,
      });
    });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: this.cfg.scopes,
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: "S256",
      state,
      nonce,
    });
    return { url, state };
  }

  /** The provider sent the browser back: verify everything, map the role, sign the user in. */
  async callback(
    meta: RequestMeta,
    query: URLSearchParams,
    browserState: string,
  ): Promise<{ session: Session; next: string }> {
    const state = query.get("state") ?? "";
    if (!state || state !== browserState) {
      // Not the flow this browser started (login CSRF: someone else's code sent to this browser).
      throw new AppError(
        "unauthorized",
        "This single sign-on answer belongs to another browser: sign in again",
      );
    }
    const idHash = await sha256Hex(`oidc:${state}`);
    const row = challengesRepo.get(this.db, idHash, "oidc");
    if (row) challengesRepo.delete(this.db, idHash);
    if (!row || row.expires_at <= this.clock.now()) {
      throw new AppError(
        "unauthorized",
        "This single sign-on answer is unknown, used or expired: sign in again",
      );
    }
    const flow = JSON.parse(row.data) as Flow;
    const refused = (why: string, detail = why): never => {
      this.audit.record("(sso)", meta, { action: "login.failure", detail: `sso: ${detail}`.slice(0, 300) });
      this.log.warn("single sign-on refused", { reason: detail, ip: meta.ip });
      throw new AppError("unauthorized", `Single sign-on failed: ${why}`);
    };
    if (query.get("error")) refused(`the provider answered ${query.get("error")}`);
    const config = await this.#discover();
    const current = new URL(this.redirectUri);
    current.search = query.toString();
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, current, {
        pkceCodeVerifier: flow.verifier,
        expectedState: state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (err) {
      refused("the provider's ID token was not valid", errorChain(err));
    }
    if (!claims) return refused("no ID token");
    const subject = `${claims.iss}|${claims.sub}`;
    const role = roleFromClaim(claims[this.cfg.roleClaim], this.cfg.adminValues, this.cfg.viewerValues);
    const name = String(claims.preferred_username ?? claims.email ?? claims.sub);
    if (!role) {
      this.audit.record(name, meta, {
        action: "login.sso_refused",
        target: name,
        detail: `no role: claim ${this.cfg.roleClaim} has no admin or viewer value`,
      });
      throw new AppError(
        "forbidden",
        `Single sign-on: "${name}" has no WireBuddy role (claim ${this.cfg.roleClaim})`,
      );
    }
    const user = this.#provision(subject, name, role, meta);
    return { session: await this.login.startSession(user, meta, "oidc"), next: flow.next };
  }

  /** The user for a subject: created on first sign-in; the role follows the claim. */
  #provision(subject: string, name: string, role: Role, meta: RequestMeta): UserRow {
    return this.db.tx(() => {
      const existing = usersRepo.byOidcSubject(this.db, subject);
      if (existing) {
        if (existing.role !== role) {
          usersRepo.setRole(this.db, existing.id, role);
          this.audit.record("(sso)", meta, {
            action: "user.role",
            target: existing.username,
            detail: `${existing.role} -> ${role} (from the provider's claim)`,
          });
        }
        return usersRepo.byId(this.db, existing.id)!;
      }
      const base = name.replace(/[^A-Za-z0-9._@-]/g, "_").slice(0, 56).padEnd(3, "_");
      let username = base;
      for (let i = 2; usersRepo.byName(this.db, username); i++) username = `${base}-${i}`;
      const now = this.clock.now();
      const id = usersRepo.insert(this.db, {
        username,
        role,
        password_hash: NO_PASSWORD,
        created_at: now,
        password_changed_at: now,
        oidc_subject: subject,
      });
      this.audit.record("(sso)", meta, {
        action: "user.create",
        target: username,
        detail: `role=${role} (single sign-on, subject ${subject})`.slice(0, 300),
      });
      return usersRepo.byId(this.db, id)!;
    });
  }
}
