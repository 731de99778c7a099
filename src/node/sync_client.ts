// The node's side of the sync protocol: proven requests to the master and verified answers. After
// enrollment one request signed by the identity key opens a session (session_keeper.ts); the rest carry
// its HMAC. A refused session is opened again; a master without sessions (404) gets signatures.
import type { z } from "zod";
import { AppError } from "../core/errors.ts";
import type { Clock } from "../core/ports/types.ts";
import {
  type EnrollResponse,
  EnrollResponseSchema,
  HEADERS,
  IdentityAnswerSchema,
  importPublicKey,
  newNonce,
  requestSigningText,
  responseSigningText,
  signText,
  type TokenPayload,
} from "../core/sync.ts";
import {
  deriveSessionKey,
  ecdhKeyPair,
  macText,
  SESSION_HEADERS,
  SessionAnswerSchema,
  sessionProof,
  verifyMac,
} from "../core/sync_session.ts";
import { type Opened, type Session, SessionKeeper, type SessionStore } from "./session_keeper.ts";
import { checkMasterProtocol, PROTOCOL_HEADER, SYNC_PROTOCOL } from "../core/sync_protocol.ts";
import type { Enrollment } from "./state.ts";
import { claimedVersion, RejectedAnswer, SyncError } from "./sync_errors.ts";
import { anyVerifies } from "./saved_proof.ts";

export { verifySaved } from "./saved_proof.ts";
export { RejectedAnswer, SyncError } from "./sync_errors.ts";

export type { SessionStore };

/**
 * fetch, built by main.ts to trust exactly the master's certificate (or the system CAs): the one saved, or,
 * when only its pin is known (`cert` empty), the one the master presents, if it matches the pin.
 */
export type HttpFetch = (url: string, init: RequestInit) => Promise<Response>;
export type FetchFactory = (tls: PinnedTls | null) => HttpFetch;
/** The master's pinned certificate (`cert` empty: only its pin known), and an announced next one. */
export type PinnedTls = { cert: string; sha256?: string; next?: { cert: string; sha256: string } };

type Signer = {
  nodeId: number;
  key: CryptoKey;
  bearer: string | null;
  /** The master's keys an answer may be signed with: the current one, and an announced next one. */
  verifyKeys: CryptoKey[];
  session?: Session | null;
};

type Exchange<T> = {
  fetcher: HttpFetch;
  clock: Clock;
  base: string;
  signer: Signer;
  method: "GET" | "POST";
  path: string;
  body: unknown;
  schema: z.ZodType<T>;
  /** The whole exchange (connect, send, answer) must end within this, or it fails as "unreachable". */
  deadlineMs: number;
  /** The agent stopping: the request ends without being called a failure. */
  signal?: AbortSignal | undefined;
};

/** Runs `fn` with a signal that aborts at `ms` (by `clock`) or with `stop`; a timeout becomes a SyncError. */
async function withDeadline<T>(
  clock: Clock,
  ms: number,
  stop: AbortSignal | undefined,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const ctl = new AbortController();
  const timer = new AbortController();
  let timedOut = false;
  const onStop = () => ctl.abort(stop!.reason);
  if (stop?.aborted) ctl.abort(stop.reason);
  else stop?.addEventListener("abort", onStop, { once: true });
  clock.sleep(ms, timer.signal).then(() => {
    timedOut = true;
    ctl.abort(new Error("deadline"));
  }, () => {});
  try {
    return await fn(ctl.signal);
  } catch (err) {
    if (timedOut) throw new SyncError(0, `no answer from the master within ${Math.round(ms / 1000)}s`);
    throw err;
  } finally {
    timer.abort();
    stop?.removeEventListener("abort", onStop);
  }
}

async function exchange<T>(x: Exchange<T>): Promise<T> {
  const { fetcher, clock, base, signer, method, path, body, schema, signal } = x;
  const text = body === null ? "" : JSON.stringify(body);
  const nonce = newNonce();
  const timestamp = clock.now();
  const requestText = await requestSigningText({
    method,
    path,
    timestamp,
    nonce,
    nodeId: signer.nodeId,
    body: text,
  });
  const session = signer.session ?? null;
  const headers: Record<string, string> = {
    [HEADERS.node]: String(signer.nodeId),
    [HEADERS.timestamp]: String(timestamp),
    [HEADERS.nonce]: nonce,
    [PROTOCOL_HEADER]: String(SYNC_PROTOCOL),
    ...(session
      ? {
        [SESSION_HEADERS.session]: session.id,
        [SESSION_HEADERS.mac]: await macText(session.key, requestText),
      }
      : { [HEADERS.signature]: await signText(signer.key, requestText) }),
  };
  if (signer.bearer) headers.authorization = `Bearer ${signer.bearer}`;
  if (body !== null) headers["content-type"] = "application/json";
  const { res, answer } = await withDeadline(clock, x.deadlineMs, signal, async (deadline) => {
    let res: Response;
    try {
      res = await fetcher(`${base}${path}`, {
        method,
        headers,
        ...(body !== null ? { body: text } : {}),
        signal: deadline,
      });
      return { res, answer: await res.text() };
    } catch (err) {
      if (deadline.aborted) throw err;
      throw new SyncError(0, `master unreachable: ${err instanceof Error ? err.message : String(err)}`);
    }
  });
  if (res.status !== 426) checkMasterProtocol(res.headers.get(PROTOCOL_HEADER), (m) => new SyncError(426, m));
  if (res.status !== 200) {
    let message = `HTTP ${res.status}`;
    try {
      message = JSON.parse(answer)?.error?.message ?? message;
    } catch {
      // not JSON
    }
    const retry = Number(res.headers.get("retry-after"));
    throw new SyncError(res.status, message, Number.isFinite(retry) && retry > 0 ? retry * 1000 : undefined);
  }
  const expected = await responseSigningText(signer.nodeId, nonce, 200, answer);
  const proven = session
    ? await verifyMac(session.key, res.headers.get(SESSION_HEADERS.mac) ?? "", expected)
    : await anyVerifies(signer.verifyKeys, res.headers.get(HEADERS.signature) ?? "", expected);
  if (!proven) {
    throw new RejectedAnswer(
      "the answer is not signed by the master this node enrolled with",
      claimedVersion(answer),
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(answer);
  } catch {
    throw new RejectedAnswer("the master's answer is not JSON", null);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join(".")}: ` : "";
    throw new RejectedAnswer(`malformed answer: ${where}${issue?.message}`, claimedVersion(answer));
  }
  return parsed.data;
}

/** Enrolls with a token: proves the identity key by signing the request; the answer is verified. */
export async function enroll(
  fetchFor: FetchFactory,
  clock: Clock,
  token: string,
  payload: TokenPayload,
  identity: { key: CryptoKey; certPem: string },
  info: { hostname: string; version: string; masterUrl: string | null; timeoutMs: number },
): Promise<{ enrollment: Enrollment; response: EnrollResponse }> {
  // A packed token has the certificate's pin only: the fetcher gets the certificate and checks it.
  const tls = payload.tls ? { cert: payload.tls.cert ?? "", sha256: payload.tls.sha256 } : null;
  const fetcher = fetchFor(tls);
  const url = info.masterUrl ?? payload.url;
  const signer = {
    nodeId: payload.node_id,
    key: identity.key,
    bearer: null,
    verifyKeys: [await importPublicKey(payload.verify_key)],
  };
  const response = await exchange({
    fetcher,
    clock,
    base: url,
    signer,
    method: "POST",
    path: "/api/sync/enroll",
    body: { token, cert: identity.certPem, hostname: info.hostname, version: info.version },
    schema: EnrollResponseSchema,
    deadlineMs: info.timeoutMs,
  });
  if (response.node_id !== payload.node_id) {
    throw new AppError("unauthorized", "The master answered for another node");
  }
  return {
    response,
    enrollment: {
      node_id: response.node_id,
      name: response.name,
      node_secret: response.node_secret,
      url: payload.url,
      tls,
      verify_key: payload.verify_key,
    },
  };
}

const pinned = (e: Pick<Enrollment, "tls" | "next_tls">): PinnedTls | null =>
  e.tls ? { ...e.tls, ...(e.next_tls ? { next: e.next_tls } : {}) } : null;

export class SyncClient {
  /** The session the requests go in (also proves configs the node builds from deltas). */
  readonly session: SessionKeeper;
  #fetch: HttpFetch;
  #signer: Promise<Signer>;

  constructor(
    private readonly fetchFor: FetchFactory,
    private readonly clock: Clock,
    enrollment: Enrollment,
    key: CryptoKey,
    private readonly base: string,
    /** `timeoutMs`: the deadline of every request (a long-poll gets its wait on top). */
    private readonly opts: { timeoutMs: number },
    /** Where the session is kept; without one the client signs every request (as before sessions). */
    sessions: SessionStore | null = null,
  ) {
    this.session = new SessionKeeper(sessions, (signal) => this.#openRemote(signal));
    this.#fetch = fetchFor(pinned(enrollment));
    this.#signer = this.#withKeys([enrollment.verify_key, enrollment.next_verify_key ?? ""], {
      nodeId: enrollment.node_id,
      key,
      bearer: enrollment.node_secret,
    });
  }

  /** From now on the master may present these certificates only (master_trust.ts). */
  trustTls(e: Pick<Enrollment, "tls" | "next_tls">): void {
    this.#fetch = this.fetchFor(pinned(e));
  }

  /** Sends a new identity certificate signed with the current key (never in a session), then signs with `key`. */
  async changeIdentity(certPem: string, key: CryptoKey, signal?: AbortSignal): Promise<void> {
    const signer = await this.#signer;
    await exchange({
      fetcher: this.#fetch,
      clock: this.clock,
      base: this.base,
      signer: { ...signer, session: null },
      method: "POST",
      path: "/api/sync/identity",
      body: { cert: certPem },
      schema: IdentityAnswerSchema,
      deadlineMs: this.opts.timeoutMs,
      signal,
    });
    this.#signer = Promise.resolve({ ...signer, key }); // the master ended the session: the next one is opened with it
  }

  /** From now on answers may be signed by these master keys only (master_trust.ts). */
  async trustKeys(keys: string[]): Promise<void> {
    this.#signer = this.#withKeys(keys, await this.#signer);
    await this.#signer;
  }

  async #withKeys(keys: string[], s: Omit<Signer, "verifyKeys">): Promise<Signer> {
    return { ...s, verifyKeys: await Promise.all(keys.filter(Boolean).map((k) => importPublicKey(k))) };
  }

  /** Asks the master for a session, in a request signed with the identity key. */
  async #openRemote(signal?: AbortSignal): Promise<Opened> {
    const signer = await this.#signer;
    const mine = await ecdhKeyPair();
    let answer;
    try {
      answer = await exchange({
        fetcher: this.#fetch,
        clock: this.clock,
        base: this.base,
        signer,
        method: "POST",
        path: "/api/sync/session",
        body: { ecdh_public: mine.publicKey },
        schema: SessionAnswerSchema,
        deadlineMs: this.opts.timeoutMs,
        signal,
      });
    } catch (err) {
      if (err instanceof SyncError && err.status === 404) return "unsupported";
      throw err;
    }
    if (answer.kind === "removed") return "removed";
    const key = await deriveSessionKey(mine.privateKey, answer.ecdh_public, {
      nodeId: signer.nodeId,
      sessionId: answer.session_id,
    });
    if (!key) throw new RejectedAnswer("the master's session key is not a P-256 public key", null);
    return { id: answer.session_id, key };
  }

  /** Runs one exchange in the current session; a session the master refuses (401) is opened anew, once. */
  async #call<T>(
    x: Omit<Exchange<T>, "fetcher" | "clock" | "base" | "signer">,
    fetcher = this.#fetch,
  ): Promise<T> {
    const base = { ...x, fetcher, clock: this.clock, base: this.base };
    const session = await this.session.current(x.signal);
    try {
      return await exchange({ ...base, signer: { ...(await this.#signer), session } });
    } catch (err) {
      if (!(session && err instanceof SyncError && err.status === 401)) throw err;
      this.session.refused(session.id);
      return await exchange({
        ...base,
        signer: { ...(await this.#signer), session: await this.session.current(x.signal) },
      });
    }
  }

  async post<T>(path: string, body: unknown, schema: z.ZodType<T>, signal?: AbortSignal): Promise<T> {
    return await this.#call({
      method: "POST",
      path,
      body,
      schema,
      deadlineMs: this.opts.timeoutMs,
      signal,
    });
  }

  /**
   * GET returning the raw signed answer too, so a config can be kept and re-verified later. `waitMs`:
   * how long the master may hold the answer (a long-poll), on top of the request timeout.
   */
  async getSigned<T>(
    path: string,
    schema: z.ZodType<T>,
    signal?: AbortSignal,
    waitMs = 0,
  ): Promise<{ value: T; raw: string; signature: string; nonce: string }> {
    let captured = { raw: "", signature: "", nonce: "" };
    const capturing: HttpFetch = async (url, init) => {
      const res = await this.#fetch(url, init);
      const raw = await res.clone().text();
      const sent = init.headers as Record<string, string>;
      const sessionId = sent[SESSION_HEADERS.session];
      captured = {
        raw,
        // A session's answer is kept with its HMAC, named by the session (verifySaved reads both).
        signature: sessionId
          ? sessionProof(sessionId, res.headers.get(SESSION_HEADERS.mac) ?? "")
          : res.headers.get(HEADERS.signature) ?? "",
        nonce: sent[HEADERS.nonce] ?? "",
      };
      return res;
    };
    const value = await this.#call({
      method: "GET",
      path,
      body: null,
      schema,
      deadlineMs: this.opts.timeoutMs + waitMs,
      signal,
    }, capturing);
    return { value, ...captured };
  }
}
