// A real OAuth2 authorization server for bridgeway's integration tests: the certified
// oidc-provider, configured for the client credentials grant (RFC 6749 §4.4) on 127.0.0.1.
//
//   node server.mjs [--port N] [--ttl SECONDS] [--clients FILE] [--scopes "api read"]
//
// --port 0 (the default) takes an ephemeral port. When the server listens it prints one line,
// `READY 127.0.0.1:PORT`, to stdout; the Rust harness (tests/support/oauth2.rs) waits for it.
// Clients come from --clients FILE, else from the OAUTH2_CLIENTS environment variable (JSON),
// else from clients.json beside this file: a JSON array of oidc-provider client metadata.
//
// Besides the OAuth2 routes, a few test-only routes under /_test/ observe and steer the token
// endpoint; they are plain Koa middleware in front of oidc-provider's own routes.

import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.OAUTH2_PORT ?? '0' },
    ttl: { type: 'string', default: process.env.OAUTH2_TTL ?? '300' },
    clients: { type: 'string' },
    scopes: { type: 'string', default: process.env.OAUTH2_SCOPES ?? 'api read write' },
  },
});

const port = Number(args.port);
const ttl = Number(args.ttl);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`bad --port ${args.port}`);
if (!Number.isInteger(ttl) || ttl < 1) fail(`bad --ttl ${args.ttl} (whole seconds, at least 1)`);

let clientsText;
if (args.clients) {
  clientsText = readFileSync(args.clients, 'utf8');
} else if (process.env.OAUTH2_CLIENTS) {
  clientsText = process.env.OAUTH2_CLIENTS;
} else {
  clientsText = readFileSync(new URL('./clients.json', import.meta.url), 'utf8');
}
// Machine-to-machine clients: no redirects and no authorization endpoint, unless a client
// says otherwise.
const clients = JSON.parse(clientsText).map((client) => ({
  grant_types: ['client_credentials'],
  response_types: [],
  redirect_uris: [],
  ...client,
}));

// Listen first, so that the issuer can name the port that port 0 resolved to.
const server = createServer();
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const { port: actualPort } = server.address();
const issuer = `http://127.0.0.1:${actualPort}`;

// A fresh signing key per run: oidc-provider insists on one even though client credentials
// access tokens here are opaque. Generating it keeps private keys out of git and silences the
// "development-only signing keys" warning; EC P-256 because an RSA key takes ~0.3 s to make.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test', use: 'sig', alg: 'ES256' };

const provider = new Provider(issuer, {
  clients,
  // Without it, every client fails with invalid_client_metadata: the default is RS256.
  clientDefaults: { id_token_signed_response_alg: 'ES256' },
  jwks: { keys: [jwk] },
  // The scopes the server knows. A known scope outside a client's `scope` is invalid_scope; an
  // unknown one is dropped from the grant without an error.
  scopes: args.scopes.split(' ').filter(Boolean),
  features: {
    clientCredentials: { enabled: true },
    devInteractions: { enabled: false },
  },
  ttl: { ClientCredentials: ttl },
  cookies: { keys: ['bridgeway-oauth2-test-server'] },
});

// --- test-only observation and switches -------------------------------------------------------

const TOKEN_PATH = '/token';
const stats = {
  // Every POST to the token endpoint, good or bad: tests of token caching count fetches.
  token_requests: 0,
  // Access tokens handed out, in order: tests check that the gateway forwards the one it got.
  issued: [],
  // How the client authenticated on each token request (client_secret_basic, client_secret_post
  // or none): oidc-provider accepts either secret method for a secret client, so this is how a
  // test proves which one the gateway used.
  auth_methods: [],
  // Most token requests in flight at once: a single-flight token cache keeps it at 1.
  concurrent_max: 0,
};
let inFlight = 0;
// Delay before each token response, so that concurrent callers really overlap.
let delayMs = 0;
// A forced error for every token request until reset, so tests see the gateway's error path.
let forced = null;

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/_test/')) {
    const route = `${ctx.method} ${ctx.path}`;
    if (route === 'GET /_test/stats') {
      json(ctx, 200, stats);
    } else if (route === 'POST /_test/delay') {
      delayMs = Number(ctx.query.ms ?? 0);
      json(ctx, 200, { delay_ms: delayMs });
    } else if (route === 'POST /_test/fail') {
      forced = { status: Number(ctx.query.status ?? 500), error: ctx.query.error ?? 'server_error' };
      json(ctx, 200, { fail: forced });
    } else if (route === 'POST /_test/reset') {
      // Clears the switches; the counters keep counting (start a new server for fresh ones).
      delayMs = 0;
      forced = null;
      json(ctx, 200, { reset: true });
    } else {
      json(ctx, 404, { error: 'not_found' });
    }
    return;
  }

  if (ctx.method !== 'POST' || ctx.path !== TOKEN_PATH) {
    await next();
    return;
  }

  stats.token_requests += 1;
  inFlight += 1;
  stats.concurrent_max = Math.max(stats.concurrent_max, inFlight);
  try {
    if (delayMs > 0) await sleep(delayMs);
    if (forced) {
      // oidc-provider never sees this request, so read its form body here.
      let body = '';
      for await (const chunk of ctx.req) body += chunk;
      stats.auth_methods.push(authMethod(ctx, new URLSearchParams(body)));
      json(ctx, forced.status, { error: forced.error, error_description: 'forced by /_test/fail' });
      return;
    }
    await next();
    stats.auth_methods.push(authMethod(ctx, ctx.oidc?.params));
    if (ctx.status === 200 && ctx.body?.access_token) stats.issued.push(ctx.body.access_token);
  } finally {
    inFlight -= 1;
  }
});

// Which client authentication a token request carried: the Basic header, or client_secret in
// the form body (params: oidc-provider's parsed parameters, or a URLSearchParams).
function authMethod(ctx, params) {
  if (/^basic /i.test(ctx.get('authorization'))) return 'client_secret_basic';
  const secret = typeof params?.get === 'function' ? params.get('client_secret') : params?.client_secret;
  return secret ? 'client_secret_post' : 'none';
}

server.on('request', provider.callback());
console.log(`READY 127.0.0.1:${actualPort}`);

function fail(message) {
  console.error(`oauth2 test server: ${message}`);
  process.exit(2);
}
