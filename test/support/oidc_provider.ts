// A real OpenID provider (npm oidc-provider) on loopback for single sign-on tests: its own login pages
// (any password), a "groups" claim per account, our own RSA signing key, consent granted up front, and a
// switch that makes the token endpoint misbehave: a tampered ID token (payload changed, old signature), or
// one re-signed with the right key but the wrong nonce or audience.
import http from "node:http";
import type { AddressInfo } from "node:net";
import Provider from "oidc-provider";

export type TokenMode = "honest" | "tampered" | "wrong-nonce" | "wrong-audience";
export const CLIENT_ID = "wirebuddy";
export const CLIENT_SECRET = "client-secret-0123456789";
export const GROUPS: Record<string, string[]> = {
  alice: ["staff", "wb-admins"],
  victor: ["wb-viewers"],
  mallory: ["staff"],
};

const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (text: string) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0));

/** The parts of oidc-provider's Koa contexts the hooks below use. */
type GrantContext = {
  oidc: {
    provider: { Grant: new (init: { clientId: string; accountId: string }) => Grant };
    client: { clientId: string };
    session: { accountId: string };
  };
};
type Grant = { addOIDCScope(s: string): void; addOIDCClaims(c: string[]): void; save(): Promise<unknown> };
type TokenContext = { method: string; path: string; body?: { id_token?: string } & Record<string, unknown> };

export type TestProvider = {
  issuer: string;
  setMode: (mode: TokenMode) => void;
  close: () => Promise<void>;
};

export async function startProvider(redirectUri: string): Promise<TestProvider> {
  const { privateKey } = await crypto.subtle.generateKey(
    {
      name: "RSASSA-PKCS1-v1_5",
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: "SHA-256",
    },
    true,
    ["sign", "verify"],
  );
  const jwk = {
    ...(await crypto.subtle.exportKey("jwk", privateKey)),
    kid: "test-key",
    use: "sig",
    alg: "RS256",
  };
  delete jwk.key_ops;
  delete jwk.ext;

  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let mode: TokenMode = "honest";

  const provider = new Provider(issuer, {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post",
    }],
    jwks: { keys: [jwk as never] },
    claims: { openid: ["sub"], profile: ["preferred_username"], groups: ["groups"] },
    scopes: ["openid", "profile", "groups"],
    conformIdTokenClaims: false,
    pkce: { required: () => true },
    findAccount: (_ctx: unknown, id: string) =>
      Promise.resolve({
        accountId: id,
        claims: () => Promise.resolve({ sub: id, preferred_username: id, groups: GROUPS[id] ?? [] }),
      }),
    // Consent is given up front: the test's browser sees only the login page.
    loadExistingGrant: async (ctx: GrantContext) => {
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope("openid profile groups");
      grant.addOIDCClaims(["preferred_username", "groups"]);
      await grant.save();
      return grant;
    },
  } as never);

  const sign = async (header: string, payload: Record<string, unknown>) => {
    const body = b64url(new TextEncoder().encode(JSON.stringify(payload)));
    const sig = await crypto.subtle.sign(
      "RSASSA-PKCS1-v1_5",
      privateKey,
      new TextEncoder().encode(`${header}.${body}`),
    );
    return `${header}.${body}.${b64url(new Uint8Array(sig))}`;
  };
  const misbehave = async (idToken: string): Promise<string> => {
    const [header, body, sig] = idToken.split(".") as [string, string, string];
    const claims = JSON.parse(new TextDecoder().decode(fromB64url(body)));
    switch (mode) {
      case "tampered": {
        const forged = b64url(new TextEncoder().encode(JSON.stringify({ ...claims, groups: ["wb-admins"] })));
        return `${header}.${forged}.${sig}`;
      }
      case "wrong-nonce":
        return await sign(header, { ...claims, nonce: "not-the-nonce-the-master-sent" });
      case "wrong-audience":
        return await sign(header, { ...claims, aud: "another-client" });
      default:
        return idToken;
    }
  };
  provider.use(async (ctx: TokenContext, next: () => Promise<void>) => {
    await next();
    if (ctx.method === "POST" && ctx.path === "/token" && mode !== "honest" && ctx.body?.id_token) {
      ctx.body = { ...ctx.body, id_token: await misbehave(ctx.body.id_token) };
    }
  });
  server.on("request", provider.callback());

  return {
    issuer,
    setMode: (m) => {
      mode = m;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
