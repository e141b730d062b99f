// A strict third-party verifier of the gateway's access tokens: jose's
// createRemoteJWKSet caches the JWKS for exactly the max-age the gateway's
// Cache-Control states, and refetches it on an unknown kid no sooner than
// that either, so a key that signed before it had been published for longer
// than the max-age would fail here. For DURATION_MS it fetches tokens and
// verifies each (and one fetched at the start) with jwtVerify, then prints
// {"ok": n, "failed": n, "kids": [...], "errors": [...]} on stdout.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";

const { JWKS_URL, TOKEN_URL, ISSUER, CLIENT_ID, CLIENT_SECRET } = process.env;
const duration = Number(process.env.DURATION_MS || "7000");

const first = await fetch(JWKS_URL);
const cacheControl = first.headers.get("cache-control") || "";
const m = /max-age=(\d+)/.exec(cacheControl);
if (!m) {
  console.log(JSON.stringify({ ok: 0, failed: 1, kids: [], errors: [`JWKS Cache-Control without max-age: ${cacheControl}`] }));
  process.exit(0);
}
const maxAgeMs = Number(m[1]) * 1000;
const jwks = createRemoteJWKSet(new URL(JWKS_URL), { cacheMaxAge: maxAgeMs, cooldownDuration: maxAgeMs });

async function token() {
  const res = await fetch(TOKEN_URL, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      authorization: "Basic " + Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString("base64"),
    },
    body: "grant_type=client_credentials",
  });
  const body = await res.json();
  if (res.status !== 200) throw new Error(`token endpoint ${res.status}: ${JSON.stringify(body)}`);
  return body.access_token;
}

const result = { ok: 0, failed: 0, kids: [], errors: [], max_age_ms: maxAgeMs };
const kids = new Set();
const early = await token();
const stop = Date.now() + duration;
while (Date.now() < stop) {
  let tok;
  try {
    tok = await token();
  } catch (e) {
    result.failed++;
    if (result.errors.length < 10) result.errors.push(String(e));
    continue;
  }
  for (const t of [tok, early]) {
    const kid = decodeProtectedHeader(t).kid;
    try {
      await jwtVerify(t, jwks, { issuer: ISSUER, typ: "at+jwt", algorithms: ["ES256"], requiredClaims: ["exp", "iat", "jti"] });
      result.ok++;
      kids.add(kid);
    } catch (e) {
      result.failed++;
      if (result.errors.length < 10) result.errors.push(`${kid}: ${e.code || ""} ${e.message}`);
    }
  }
  await new Promise((r) => setTimeout(r, 20));
}
result.kids = [...kids];
console.log(JSON.stringify(result));
