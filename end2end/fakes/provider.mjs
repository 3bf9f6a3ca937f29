// A local stand-in for Microsoft's and Google's OAuth endpoints, Microsoft Graph `GET /me`
// and Google's revoke/userinfo endpoints, for the tests. The OAuth 2.0 / OIDC part (code
// exchange, PKCE S256 verification, ID tokens, refresh) is the npm package oauth2-mock-server;
// this file only puts it behind the providers' real paths, adds a consent page a browser can
// click through, strict refresh-token rotation, a client-secret check, and lets a test queue
// the providers' documented error answers.
//
//   node end2end/fakes/provider.mjs [port]     prints "PORT=<n>" once it listens (127.0.0.1)
//
// Paths (as the real services have them):
//   GET  /{tenant}/oauth2/v2.0/authorize   Microsoft consent page
//   POST /{tenant}/oauth2/v2.0/token       Microsoft token endpoint
//   GET  /v1.0/me                          Microsoft Graph: the signed-in user
//   GET  /o/oauth2/v2/auth                 Google consent page
//   POST /token                            Google token endpoint
//   POST /revoke                           Google revocation
//   GET  /v1/userinfo                      Google userinfo
//   POST /v1.0/me/sendMail                 Microsoft Graph: send (MIME, base64, text/plain)
//   POST /v1.0/users/{mailbox}/sendMail    the same as an application (app-only), or as a
//                                          shared mailbox (delegated, with Mail.Send.Shared)
//   POST /gmail/v1/users/me/messages/send  Gmail API: send ({"raw": base64url})
//   GET  /gmail/v1/users/me/settings/sendAs/{address}  Gmail API: one send-as address (needs
//                                          gmail.settings.basic; 404 for an unknown one)
// Test controls:
//   POST /_control  JSON merged into the controls below;  GET /_stats;  POST /_reset
//   POST /hooks/<anything>  an incoming webhook (alerts): recorded in stats.alerts, 200
// With controls.clientCertificate set, the token endpoint checks the client assertion as the
// Microsoft identity platform does: RS256 signature against the registered certificate,
// x5t#S256, aud = the token URL, iss = sub = client_id, a 10-minute lifetime, a fresh jti.
import crypto from 'node:crypto';
import http from 'node:http';
import { OAuth2Server } from 'oauth2-mock-server';

const defaults = () => ({
  // The client secret the token endpoint accepts (null: any).
  clientSecret: null,
  // A certificate (PEM) registered on the app: when set, Microsoft's token endpoint wants a
  // client assertion signed by its key instead of a secret (RFC 7523), and checks it.
  clientCertificate: null,
  // Answers served instead of the next token requests: [{status, body}].
  tokenErrors: [],
  // Scopes left out of the grant (a user unticking a box, an app without the permission).
  dropScopes: [],
  // Claims added to the ID token.
  idClaims: {},
  // Graph /me answer.
  me: {
    id: '8f0c5e1a-0000-4000-8000-000000000001',
    displayName: 'Notice Sender',
    mail: 'notice@contoso.example',
    userPrincipalName: 'notice@contoso.example',
  },
  meStatus: 200,
  // Google userinfo answer.
  userinfo: { sub: '110000000000000000001', email: 'notice@gmail.example', email_verified: true },
  // Milliseconds a refresh takes (to make concurrent refreshes overlap).
  refreshDelayMs: 0,
  // Status of the revocation endpoint.
  revokeStatus: 200,
  // Answers served instead of the next sends: [{status, body, headers}].
  sendErrors: [],
  // Milliseconds a send takes (to make concurrent sends overlap).
  sendDelayMs: 0,
  // The Gmail account's custom "from" aliases: address -> verificationStatus
  // ('accepted' or 'pending'). The userinfo address is the primary one.
  gmailSendAs: {},
});

let control = defaults();
let stats;
const resetStats = () => {
  stats = {
    authorize: [],
    token: [],
    issuedAccess: [],
    issuedRefresh: [],
    revoked: [],
    me: 0,
    // Every send request: {api, ok, status, contentType, token, mime}.
    sends: [],
    // Graph: the most sendMail requests in flight at once, per mailbox ('me' for /me).
    maxInFlight: {},
    // Every alert POSTed to /hooks/<secret>: {path, contentType, body}.
    alerts: [],
    // Every Gmail sendAs read: {address, status}.
    sendAs: [],
  };
};
resetStats();
const scopeByCode = new Map();
const validRefresh = new Map(); // refresh token -> granted scope
const accessScope = new Map(); // access token -> granted scope

// oauth2-mock-server on its own port; this server sits in front of it.
const oauth = new OAuth2Server();
await oauth.issuer.keys.generate('RS256');
await oauth.start(0, '127.0.0.1');
const mockBase = `http://127.0.0.1:${oauth.address().port}`;
const service = oauth.service;

service.on('beforeAuthorizeRedirect', (redirect, req) => {
  const code = redirect.url.searchParams.get('code');
  if (code) scopeByCode.set(code, String(req.query.scope ?? ''));
});

service.on('beforeTokenSigning', (token, req) => {
  Object.assign(token.payload, control.idClaims);
});

service.on('beforeResponse', (response, req) => {
  const body = response.body;
  if (response.statusCode !== 200 || !body.access_token) return;
  const granted = req.headers['x-fake-granted'] ?? body.scope;
  body.scope = granted;
  stats.issuedAccess.push(body.access_token);
  // Delegated grants only: an application token (client credentials) has the application
  // permission instead.
  if (req.body?.grant_type !== 'client_credentials') accessScope.set(body.access_token, String(granted ?? ''));
  if (body.refresh_token) {
    stats.issuedRefresh.push(body.refresh_token);
    validRefresh.set(body.refresh_token, granted);
  }
});

service.on('beforeRevoke', (response, req) => {
  response.statusCode = control.revokeStatus;
});

const readBody = (req) =>
  new Promise((resolve) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => resolve(data));
  });

const json = (res, status, value) => {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(value));
};

const escape = (s) =>
  String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function consentPage(res, provider, url) {
  const q = url.searchParams;
  stats.authorize.push({ provider, path: url.pathname, query: Object.fromEntries(q) });
  const accept = `${mockBase}/authorize?${q.toString()}`;
  const redirect = new URL(q.get('redirect_uri'));
  redirect.searchParams.set('error', 'access_denied');
  redirect.searchParams.set(
    'error_description',
    provider === 'microsoft' ? 'AADSTS65004: User declined to consent to access the app.' : 'access_denied',
  );
  if (q.get('state')) redirect.searchParams.set('state', q.get('state'));
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(`<!doctype html><html><head><title>Consent (${provider})</title></head><body>
<h1 id="consent-title">${escape(provider)}: allow access?</h1>
<p>App <code id="consent-client">${escape(q.get('client_id'))}</code> asks for
<code id="consent-scope">${escape(q.get('scope'))}</code>.</p>
<p>Sign-in hint: <code id="consent-login-hint">${escape(q.get('login_hint') ?? '')}</code></p>
<a id="consent-accept" href="${escape(accept)}">Accept</a>
<a id="consent-deny" href="${escape(redirect.toString())}">Cancel</a>
</body></html>`);
}

async function token(req, res, provider, url) {
  const raw = await readBody(req);
  const form = new URLSearchParams(raw);
  stats.token.push({
    provider,
    path: url.pathname,
    grant_type: form.get('grant_type'),
    has_code_verifier: form.has('code_verifier'),
    redirect_uri: form.get('redirect_uri'),
    client_id: form.get('client_id'),
    scope: form.get('scope'),
    refresh_token: form.get('refresh_token'),
  });
  if (control.tokenErrors.length > 0) {
    const answer = control.tokenErrors.shift();
    return json(res, answer.status, answer.body);
  }
  if (control.clientCertificate !== null) {
    const record = stats.token[stats.token.length - 1];
    record.has_client_secret = form.has('client_secret');
    const problem = assertionProblem(form, `http://${req.headers.host}${url.pathname}`);
    record.assertion = problem ?? 'ok';
    if (problem) {
      return json(res, 401, {
        error: 'invalid_client',
        error_description: `AADSTS700027: Client assertion failed signature validation. (${problem})`,
        error_codes: [700027],
      });
    }
  } else if (control.clientSecret !== null && form.get('client_secret') !== control.clientSecret) {
    return json(
      res,
      401,
      provider === 'microsoft'
        ? {
            error: 'invalid_client',
            error_description: "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
            error_codes: [7000215],
          }
        : { error: 'invalid_client', error_description: 'Unauthorized' },
    );
  }
  let granted;
  if (form.get('grant_type') === 'authorization_code') {
    granted = scopeByCode.get(form.get('code')) ?? '';
  } else if (form.get('grant_type') === 'refresh_token') {
    const presented = form.get('refresh_token');
    if (!validRefresh.has(presented)) {
      return json(res, 400, {
        error: 'invalid_grant',
        error_description:
          provider === 'microsoft'
            ? 'AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.'
            : 'Token has been expired or revoked.',
        ...(provider === 'microsoft' ? { error_codes: [70008] } : {}),
      });
    }
    granted = validRefresh.get(presented);
    // Strict rotation: a refresh token works once.
    validRefresh.delete(presented);
    if (control.refreshDelayMs > 0) await new Promise((r) => setTimeout(r, control.refreshDelayMs));
  }
  if (granted !== undefined) {
    granted = granted
      .split(' ')
      .filter((s) => s && !control.dropScopes.includes(s))
      .join(' ');
  }
  // Hand the request on to oauth2-mock-server, which checks PKCE and issues the tokens.
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (req.headers.authorization) headers.authorization = req.headers.authorization;
  if (granted !== undefined) headers['x-fake-granted'] = granted;
  const answer = await fetch(`${mockBase}/token`, { method: 'POST', headers, body: raw });
  res.writeHead(answer.status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(await answer.text());
}

const usedJti = new Set();

// Why a client assertion would be refused, or null when it is good.
function assertionProblem(form, tokenUrl) {
  if (form.has('client_secret')) return 'a client secret was sent with a certificate credential';
  if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer') {
    return 'client_assertion_type';
  }
  const parts = String(form.get('client_assertion') ?? '').split('.');
  if (parts.length !== 3) return 'not a JWT';
  let header, claims;
  try {
    header = JSON.parse(Buffer.from(parts[0], 'base64url').toString());
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  } catch {
    return 'not a JWT';
  }
  const cert = new crypto.X509Certificate(control.clientCertificate);
  if (header.alg !== 'RS256') return `alg ${header.alg}`;
  const thumb = crypto.createHash('sha256').update(cert.raw).digest('base64url');
  if (header['x5t#S256'] !== thumb) return 'x5t#S256 is not the certificate';
  const signed = crypto.verify(
    'RSA-SHA256',
    Buffer.from(`${parts[0]}.${parts[1]}`),
    cert.publicKey,
    Buffer.from(parts[2], 'base64url'),
  );
  if (!signed) return 'signature';
  const now = Math.floor(Date.now() / 1000);
  if (claims.aud !== tokenUrl) return `aud ${claims.aud}`;
  if (claims.iss !== form.get('client_id') || claims.sub !== form.get('client_id')) return 'iss/sub';
  if (!(claims.exp > now) || !(claims.nbf <= now + 60) || claims.exp - claims.nbf > 660) return 'lifetime';
  if (!claims.jti || usedJti.has(claims.jti)) return 'jti';
  usedJti.add(claims.jti);
  return null;
}

function revoke(req, res, url) {
  readBody(req).then((raw) => {
    const form = new URLSearchParams(raw);
    const tok = form.get('token') ?? url.searchParams.get('token');
    stats.revoked.push(tok);
    validRefresh.delete(tok);
    res.writeHead(control.revokeStatus, { 'content-type': 'application/json' });
    res.end(control.revokeStatus === 200 ? '{}' : '{"error":"invalid_token"}');
  });
}

function bearer(req) {
  const h = req.headers.authorization ?? '';
  return h.startsWith('Bearer ') ? h.slice(7) : null;
}

// Graph sendMail requests in flight, per mailbox. Graph allows 4 concurrent requests per
// mailbox; more get 429 ApplicationThrottled.
const inFlight = new Map();

// A send as the documentation specifies it, or the error a real service would give.
async function send(req, res, api, mailbox = null) {
  if (api !== 'graph') return sendOne(req, res, api, mailbox);
  const key = mailbox ?? 'me';
  const now = (inFlight.get(key) ?? 0) + 1;
  inFlight.set(key, now);
  stats.maxInFlight[key] = Math.max(stats.maxInFlight[key] ?? 0, now);
  try {
    if (now > 4) {
      await readBody(req);
      stats.sends.push({ api, mailbox, status: 429, token: bearer(req) });
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
      return res.end(JSON.stringify({ error: { code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' } }));
    }
    if (control.sendDelayMs > 0) await new Promise((r) => setTimeout(r, control.sendDelayMs));
    return await sendOne(req, res, api, mailbox);
  } finally {
    inFlight.set(key, inFlight.get(key) - 1);
  }
}

async function sendOne(req, res, api, mailbox) {
  const raw = await readBody(req);
  const record = { api, mailbox, contentType: req.headers['content-type'] ?? '', token: bearer(req) };
  stats.sends.push(record);
  if (!record.token || !stats.issuedAccess.includes(record.token)) {
    record.status = 401;
    return json(
      res,
      401,
      api === 'graph'
        ? { error: { code: 'InvalidAuthenticationToken', message: 'Access token has expired or is not yet valid.' } }
        : { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } },
    );
  }
  // Delegated sending as another mailbox needs Mail.Send.Shared.
  const scope = accessScope.get(record.token);
  if (api === 'graph' && mailbox && scope !== undefined && !/(^|[ /])Mail\.Send\.Shared( |$)/i.test(scope)) {
    record.status = 403;
    return json(res, 403, {
      error: { code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' },
    });
  }
  if (control.sendErrors.length > 0) {
    const answer = control.sendErrors.shift();
    record.status = answer.status;
    res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
    return res.end(JSON.stringify(answer.body ?? {}));
  }
  if (api === 'graph') {
    // MIME form: Content-Type text/plain, the body is the base64 of the whole message.
    if (!record.contentType.startsWith('text/plain') || !/^[A-Za-z0-9+/=\r\n]+$/.test(raw)) {
      record.status = 400;
      return json(res, 400, { error: { code: 'ErrorMimeContentInvalidBase64String', message: 'Invalid base64 string for MIME content.' } });
    }
    record.mime = Buffer.from(raw, 'base64').toString('utf8');
    record.status = 202;
    res.writeHead(202);
    return res.end();
  }
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    body = null;
  }
  if (!record.contentType.startsWith('application/json') || !body || typeof body.raw !== 'string' || /[+/]/.test(body.raw)) {
    record.status = 400;
    return json(res, 400, { error: { code: 400, message: "Invalid value for ByteString", status: 'INVALID_ARGUMENT' } });
  }
  record.mime = Buffer.from(body.raw, 'base64url').toString('utf8');
  record.status = 200;
  return json(res, 200, { id: `msg-${stats.sends.length}`, threadId: `thr-${stats.sends.length}`, labelIds: ['SENT'] });
}

// Gmail users.settings.sendAs.get: the primary address, a custom alias with its
// verificationStatus, or 404; only with a token granted gmail.settings.basic.
function sendAs(req, res, address) {
  const record = { address };
  stats.sendAs.push(record);
  const t = bearer(req);
  if (!t || !stats.issuedAccess.includes(t)) {
    record.status = 401;
    return json(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } });
  }
  const scope = accessScope.get(t) ?? '';
  if (!scope.split(' ').includes('https://www.googleapis.com/auth/gmail.settings.basic')) {
    record.status = 403;
    return json(res, 403, { error: { code: 403, message: 'Request had insufficient authentication scopes.', status: 'PERMISSION_DENIED' } });
  }
  const primary = control.userinfo.email;
  const wanted = address.toLowerCase();
  if (primary && wanted === primary.toLowerCase()) {
    record.status = 200;
    return json(res, 200, { sendAsEmail: primary, displayName: '', replyToAddress: '', signature: '', isPrimary: true, isDefault: true });
  }
  const alias = Object.keys(control.gmailSendAs).find((a) => a.toLowerCase() === wanted);
  if (alias === undefined) {
    record.status = 404;
    return json(res, 404, { error: { code: 404, message: 'Requested entity was not found.', status: 'NOT_FOUND' } });
  }
  record.status = 200;
  return json(res, 200, {
    sendAsEmail: alias,
    displayName: '',
    replyToAddress: '',
    signature: '',
    isPrimary: false,
    isDefault: false,
    treatAsAlias: true,
    verificationStatus: control.gmailSendAs[alias],
  });
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const path = url.pathname;
  try {
    if (path === '/_stats') return json(res, 200, stats);
    if (path === '/_reset' && req.method === 'POST') {
      control = defaults();
      resetStats();
      validRefresh.clear();
      return json(res, 200, {});
    }
    if (path === '/_control' && req.method === 'POST') {
      Object.assign(control, JSON.parse((await readBody(req)) || '{}'));
      return json(res, 200, control);
    }
    // A chat tool's incoming webhook, for the alerts.
    if (req.method === 'POST' && path.startsWith('/hooks/')) {
      const raw = await readBody(req);
      let body = null;
      try {
        body = JSON.parse(raw);
      } catch {
        body = null;
      }
      stats.alerts.push({ path, contentType: req.headers['content-type'] ?? '', body });
      return json(res, body ? 200 : 400, { ok: Boolean(body) });
    }
    let m;
    if (req.method === 'GET' && (m = path.match(/^\/([^/]+)\/oauth2\/v2\.0\/authorize$/))) {
      return consentPage(res, 'microsoft', url);
    }
    if (req.method === 'GET' && path === '/o/oauth2/v2/auth') return consentPage(res, 'google', url);
    if (req.method === 'POST' && (m = path.match(/^\/([^/]+)\/oauth2\/v2\.0\/token$/))) {
      return await token(req, res, 'microsoft', url);
    }
    if (req.method === 'POST' && path === '/token') return await token(req, res, 'google', url);
    if (req.method === 'POST' && path === '/revoke') return revoke(req, res, url);
    if (req.method === 'GET' && path === '/v1.0/me') {
      stats.me += 1;
      const t = bearer(req);
      if (!t || !stats.issuedAccess.includes(t)) {
        return json(res, 401, { error: { code: 'InvalidAuthenticationToken', message: 'Access token is empty or invalid.' } });
      }
      if (control.meStatus !== 200) {
        return json(res, control.meStatus, { error: { code: 'Authorization_RequestDenied', message: 'Insufficient privileges to complete the operation.' } });
      }
      return json(res, 200, { '@odata.context': 'https://graph.microsoft.com/v1.0/$metadata#users/$entity', ...control.me });
    }
    if (req.method === 'POST' && path === '/v1.0/me/sendMail') return await send(req, res, 'graph');
    if (req.method === 'POST' && (m = path.match(/^\/v1\.0\/users\/([^/]+)\/sendMail$/))) {
      return await send(req, res, 'graph', decodeURIComponent(m[1]));
    }
    if (req.method === 'POST' && path === '/gmail/v1/users/me/messages/send') return await send(req, res, 'gmail');
    if (req.method === 'GET' && (m = path.match(/^\/gmail\/v1\/users\/me\/settings\/sendAs\/([^/]+)$/))) {
      return sendAs(req, res, decodeURIComponent(m[1]));
    }
    if (req.method === 'GET' && path === '/v1/userinfo') {
      const t = bearer(req);
      if (!t || !stats.issuedAccess.includes(t)) return json(res, 401, { error: 'invalid_token' });
      return json(res, 200, control.userinfo);
    }
    json(res, 404, { error: 'not_found', path });
  } catch (e) {
    json(res, 500, { error: 'fake_failed', message: String(e) });
  }
});

const port = Number(process.argv[2] ?? 0);
server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  oauth.issuer.url = `http://127.0.0.1:${actual}`;
  process.stdout.write(`PORT=${actual}\n`);
});
const stop = () => {
  oauth.stop().finally(() => server.close(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
