// The sign-in settings of the master's configuration: the second-factor policy, OIDC single sign-on and
// "SSO only" with its break-glass admin. Part of MASTER_ENV (config.ts), parsed with it at start.
import { z } from "zod";
import { booleanText, type EnvVar, isLoopback } from "../core/env.ts";
import { Secret } from "../core/secret.ts";

export type OidcConfig = {
  issuer: URL;
  clientId: string;
  clientSecret: Secret;
  scopes: string;
  roleClaim: string;
  adminValues: string[];
  viewerValues: string[];
  label: string;
};

export type SignInConfig = {
  requireAdminSecondFactor: boolean;
  /** SSO only: local passwords work for this admin alone; null when passwords work for everyone. */
  passwordOnlyFor: string | null;
  oidc: OidcConfig | null;
};

const list = z.string().transform((v) => v.split(",").map((s) => s.trim()).filter(Boolean));

export const SIGN_IN_ENV: readonly EnvVar[] = [
  {
    name: "WIREBUDDY_REQUIRE_ADMIN_2FA",
    schema: booleanText.default(false),
    default: "false",
    description:
      "Every admin needs a second factor (authenticator app or passkey): one without is sent to set it up at the next sign-in, before anything else.",
  },
  {
    name: "WIREBUDDY_OIDC_ISSUER",
    schema: z.url({ protocol: /^https?$/, error: "must be the provider's issuer URL" }).optional(),
    description:
      "OpenID Connect single sign-on: the provider's issuer (discovery at `/.well-known/openid-configuration`); https, or http on loopback only.",
  },
  {
    name: "WIREBUDDY_OIDC_CLIENT_ID",
    schema: z.string().min(1).max(200).optional(),
    description: "The master's client id at the provider (redirect URI: `<public URL>/login/sso/callback`).",
  },
  {
    name: "WIREBUDDY_OIDC_CLIENT_SECRET",
    schema: z.string().min(1).max(500).optional(),
    description: "The client's secret.",
  },
  {
    name: "WIREBUDDY_OIDC_SCOPES",
    schema: z.string().regex(/^[\w:. -]+$/, "must be scope names separated by spaces").default(
      "openid profile email",
    ),
    default: "openid profile email",
    description: "Scopes to ask for (add the one that carries the role claim, e.g. `groups`).",
  },
  {
    name: "WIREBUDDY_OIDC_ROLE_CLAIM",
    schema: z.string().min(1).max(100).default("groups"),
    default: "groups",
    description: "The ID token claim (a string or a list) that decides the role.",
  },
  {
    name: "WIREBUDDY_OIDC_ADMIN_VALUES",
    schema: list.optional(),
    description: "Comma-separated claim values that make an admin (required with an issuer).",
  },
  {
    name: "WIREBUDDY_OIDC_VIEWER_VALUES",
    schema: list.default([]),
    description: "Comma-separated claim values that make a viewer; anyone else is refused.",
  },
  {
    name: "WIREBUDDY_OIDC_LABEL",
    schema: z.string().min(1).max(60).default("Sign in with single sign-on"),
    default: "Sign in with single sign-on",
    description: "The login page's button.",
  },
  {
    name: "WIREBUDDY_SSO_ONLY",
    schema: booleanText.default(false),
    default: "false",
    description: "Only single sign-on: local passwords stop working except for the break-glass admin.",
  },
  {
    name: "WIREBUDDY_BREAK_GLASS_ADMIN",
    schema: z.string().min(1).max(64).optional(),
    description: "With `WIREBUDDY_SSO_ONLY=true`: the one local admin who may still sign in with a password.",
  },
];

/** The sign-in part of the configuration; problems are added to `problems`. */
export function parseSignIn(raw: Record<string, unknown>, problems: string[]): SignInConfig {
  const issuer = raw.WIREBUDDY_OIDC_ISSUER as string | undefined;
  const clientId = raw.WIREBUDDY_OIDC_CLIENT_ID as string | undefined;
  const secret = raw.WIREBUDDY_OIDC_CLIENT_SECRET as string | undefined;
  const admins = raw.WIREBUDDY_OIDC_ADMIN_VALUES as string[] | undefined;
  let oidc: OidcConfig | null = null;
  if (issuer || clientId || secret) {
    if (!issuer || !clientId || !secret) {
      problems.push(
        "WIREBUDDY_OIDC_ISSUER, WIREBUDDY_OIDC_CLIENT_ID and WIREBUDDY_OIDC_CLIENT_SECRET go together: set all three",
      );
    }
    if (!admins || admins.length === 0) {
      problems.push("WIREBUDDY_OIDC_ADMIN_VALUES is required with single sign-on (who becomes an admin)");
    }
    const url = issuer ? new URL(issuer) : null;
    if (url && url.protocol === "http:" && !isLoopback(url.hostname.replace(/^\[|\]$/g, ""))) {
      problems.push(`WIREBUDDY_OIDC_ISSUER must be https (http only on loopback; got ${url.origin})`);
    }
    if (url && clientId && secret) {
      oidc = {
        issuer: url,
        clientId,
        clientSecret: new Secret(secret),
        scopes: raw.WIREBUDDY_OIDC_SCOPES as string,
        roleClaim: raw.WIREBUDDY_OIDC_ROLE_CLAIM as string,
        adminValues: admins ?? [],
        viewerValues: raw.WIREBUDDY_OIDC_VIEWER_VALUES as string[],
        label: raw.WIREBUDDY_OIDC_LABEL as string,
      };
    }
  }
  const ssoOnly = raw.WIREBUDDY_SSO_ONLY as boolean;
  const breakGlass = (raw.WIREBUDDY_BREAK_GLASS_ADMIN as string | undefined) ?? null;
  if (ssoOnly && !issuer) {
    problems.push("WIREBUDDY_SSO_ONLY=true needs single sign-on (WIREBUDDY_OIDC_ISSUER)");
  }
  if (ssoOnly && !breakGlass) {
    problems.push(
      "WIREBUDDY_SSO_ONLY=true needs WIREBUDDY_BREAK_GLASS_ADMIN (a local admin for when SSO is down)",
    );
  }
  return {
    requireAdminSecondFactor: raw.WIREBUDDY_REQUIRE_ADMIN_2FA as boolean,
    passwordOnlyFor: ssoOnly ? breakGlass : null,
    oidc,
  };
}
