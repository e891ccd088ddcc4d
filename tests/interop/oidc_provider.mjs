// A real authorization server for the sign-in test: oidc-provider (a certified OpenID Connect
// implementation) on 127.0.0.1, with dynamic client registration, PKCE, resource indicators
// (RFC 8707) issuing ES256-signed JWT access tokens for one resource, and its development login
// and consent pages (any login name signs in; the test fills the forms as a person would).
//
// node oidc_provider.mjs <port> <resource>   prints "ready <issuer>" once it listens.
import { generateKeyPairSync } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const [port, resource] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const SCOPES = 'sondos:read sondos:write';

function jwk(type, options, alg, kid) {
  const { privateKey } = generateKeyPairSync(type, options);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const provider = new Provider(issuer, {
  jwks: {
    keys: [
      jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256-test'),
      jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs256-test'),
    ],
  },
  features: {
    devInteractions: { enabled: true },
    registration: { enabled: true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== resource) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  pkce: { required: () => true },
  scopes: ['openid', 'offline_access', 'sondos:read', 'sondos:write'],
  claims: { openid: ['sub'], email: ['email'] },
  async findAccount(ctx, id) {
    return { accountId: id, async claims() { return { sub: id, email: `${id}@example.com` }; } };
  },
  // What the resource reads besides sub: a display name and the groups a policy may be chosen by.
  async extraTokenClaims(ctx, token) {
    if (!token.accountId) return undefined;
    return { email: `${token.accountId}@example.com`, groups: token.accountId.startsWith('lead') ? ['support-leads'] : [] };
  },
  ttl: { AccessToken: 600, AuthorizationCode: 60, Grant: 3600, Interaction: 600, Session: 3600 },
});
provider.proxy = false;

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
