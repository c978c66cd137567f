// A real OpenID Provider for the tests of package federation: panva's
// certified oidc-provider (pinned in package.json), run on 127.0.0.1.
//
//   node provider.js PORT CONFIG.json
//
// CONFIG.json holds {"clients": [...client metadata...], "esia": {...}}
// written by the Go test (redirect URIs and private_key_jwt keys are the
// test's). Accounts are fixed below and fictional. Sign-in uses the
// provider's development interactions (a login form that takes any account
// id, then a consent form), which the Go test drives with an HTTP client.
//
// "esia" names one client that authenticates like ESIA: its client_secret
// is a signature over scope+timestamp+client_id+state, at the
// authorization endpoint and again at the token endpoint. Real ESIA checks
// a GOST signature; this harness checks base64url(SHA-256(message)) — what
// the Go test's stand-in signer produces — recomputed here independently,
// then hands the token request on as client_secret_post with the client's
// registered secret.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as querystring from 'node:querystring';

import Provider from 'oidc-provider';

const [port, configPath] = process.argv.slice(2);
if (!port || !configPath) {
  console.error('usage: node provider.js PORT CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const accounts = {
  'verified-user': {
    given_name: 'Иван',
    family_name: 'Петров',
    middle_name: 'Сергеевич',
    birthdate: '1980-02-29',
    email: 'ivan.petrov@example.org',
    email_verified: true,
    phone_number: '+79001234567',
    phone_number_verified: true,
    trusted: true,
    snils: '112-233-445 95',
    inn: '500100732259',
    id_doc: { type: 'RF_PASSPORT', series: '4500', number: '123456' },
    organizations: ['ООО «Ромашка»', 'ИП Петров И. С.'],
  },
  'unverified-user': {
    given_name: 'Анна',
    family_name: 'Сидорова',
    email: 'anna@example.org',
    email_verified: false,
    trusted: false,
  },
};

const provider = new Provider(issuer, {
  clients: config.clients,
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    profile: ['given_name', 'family_name', 'middle_name', 'birthdate'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
    citizen: ['trusted', 'snils', 'inn', 'id_doc', 'organizations'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const claims = accounts[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});

const esia = config.esia;

function esiaSecret(p) {
  const message = `${p.scope ?? ''}${p.timestamp ?? ''}${p.client_id ?? ''}${p.state ?? ''}`;
  return createHash('sha256').update(message, 'utf8').digest('base64url');
}

// ESIA's timestamp: "2006.01.02 15:04:05 -0700".
function fresh(timestamp) {
  const m = /^(\d{4})\.(\d{2})\.(\d{2}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(timestamp ?? '');
  if (!m) return false;
  const at = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[7]}${m[8]}:${m[9]}`);
  return Math.abs(Date.now() - at) < 5 * 60 * 1000;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return querystring.parse(Buffer.concat(chunks).toString('utf8'));
}

provider.use(async (ctx, next) => {
  if (!esia) return next();
  if (ctx.method === 'GET' && ctx.path === '/auth' && ctx.query.client_id === esia.client_id) {
    if (!fresh(ctx.query.timestamp) || ctx.query.client_secret !== esiaSecret(ctx.query)) {
      ctx.status = 400;
      ctx.body = 'harness: bad ESIA-style client_secret or timestamp at the authorization endpoint';
      return undefined;
    }
    return next();
  }
  if (ctx.method === 'POST' && ctx.path === '/token' && ctx.is('application/x-www-form-urlencoded')) {
    const form = await readForm(ctx.req);
    if (form.client_id === esia.client_id) {
      if (!fresh(form.timestamp) || !form.state || form.client_secret !== esiaSecret(form)) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_client', error_description: 'harness: bad ESIA-style client_secret' };
        return undefined;
      }
      form.client_secret = esia.client_secret;
      for (const k of ['state', 'scope', 'timestamp', 'token_type']) delete form[k];
    }
    ctx.request.body = form;
  }
  return next();
});

// The Go test holds our standard input open: when it ends, even by a
// crash, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
