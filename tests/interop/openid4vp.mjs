// @openid4vc/openid4vp 0.4.6 (an independent OpenID4VP implementation) as the wallet side of
// Verity's OpenID4VP 1.0 verifier: it parses and resolves the authorization request (the signed
// request object of a `decentralized_identifier:` client, or a `redirect_uri:` request by
// value), and submits a `direct_post` answer whose SD-JWT VC presentation @sd-jwt/sd-jwt-vc
// 0.19 makes (or a VP JWT signed here for `jwt_vc_json`).
// Usage: node openid4vp.mjs present <input.json>; prints one JSON object.
//
//   present {
//     url,                  the openid4vp:// URL
//     use,                  "dc+sd-jwt" or "jwt_vc_json": the format to answer in (the first
//                           Credential Query of that format is answered)
//     holderPkcs8,          the holder's ES256 private key, PKCS#8 DER in base64url (the SD-JWT
//                           VC's cnf key; the VP key)
//     holderDid?, holderKid?  the holder's DID and key id (jwt_vc_json)
//     sdJwt?, frame?        the SD-JWT VC as issued, and the disclosure frame ({ claim: true })
//     jwtVc?                the JWT-VC
//     now                   unix seconds: KB-JWT / VP `iat` (the test app's clock)
//     audience?             "effective" (default: the client id the library says presentations
//                           are bound to) or "identifier" (the client id without its prefix)
//   }
//   -> { ok: true, resolved: { prefix, identifier, effective, didUrl?, version, jar, dcql,
//        responseUri, state }, answered, aud, submitted: { status, body }, http }
//    | { ok: false, step, error: { name, message, error?, error_description? }, http }
//
// Only loopback hosts are reached (the fetch callback refuses anything else), over plain http
// (the library's `allowInsecureUrls`, on because every URL is a loopback one). The request
// object's signature is checked in the verifyJwt callback: the library hands it the DID URL of
// the header `kid`; the callback resolves that did:web over http (did.json), takes the
// verificationMethod with that id and verifies with node:crypto.
import { readFileSync } from "node:fs";
import { createHash, createPrivateKey, createPublicKey, randomUUID, sign, verify } from "node:crypto";
import { Openid4vpClient } from "@openid4vc/openid4vp";
import { setGlobalConfig } from "@openid4vc/oauth2";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";

const [command, inputPath] = process.argv.slice(2);
const input = inputPath ? JSON.parse(readFileSync(inputPath, "utf8")) : {};
const http = [];

function isLoopback(url) {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

async function loopbackFetch(resource, init) {
  const url = typeof resource === "string" ? resource : resource.url;
  if (!isLoopback(url)) {
    throw new Error(`interop harness: ${url} is not a loopback URL; nothing leaves this machine`);
  }
  const response = await fetch(resource, init);
  http.push({ method: init?.method ?? "GET", url, status: response.status });
  return response;
}

// did:web (W3C did:web method): host (with %3A for a port) and optional path segments.
function didWebUrl(did) {
  const parts = did.split(":").slice(2).map(decodeURIComponent);
  const host = parts.shift();
  const path = parts.length ? `/${parts.join("/")}/did.json` : "/.well-known/did.json";
  return `http://${host}${path}`;
}

async function resolveKey(didUrl) {
  const did = didUrl.split("#")[0];
  if (!did.startsWith("did:web:")) throw new Error(`interop harness: only did:web is resolved, not ${did}`);
  const response = await loopbackFetch(didWebUrl(did));
  if (!response.ok) throw new Error(`did.json of ${did}: HTTP ${response.status}`);
  const doc = await response.json();
  const fragment = didUrl.slice(didUrl.indexOf("#"));
  const method = (doc.verificationMethod ?? []).find((m) => m.id === didUrl || m.id === fragment);
  if (!method?.publicKeyJwk) throw new Error(`${didUrl} is not a verificationMethod of ${did}`);
  return method.publicKeyJwk;
}

function verifyJws(compact, alg, jwk) {
  const [h, p, s] = compact.split(".");
  const data = Buffer.from(`${h}.${p}`);
  const signature = Buffer.from(s, "base64url");
  const key = createPublicKey({ key: jwk, format: "jwk" });
  if (alg === "EdDSA") return verify(null, data, key, signature);
  if (alg === "ES256" || alg === "ES256K") {
    return verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature);
  }
  throw new Error(`interop harness: alg ${alg} is not verified here`);
}

const callbacks = {
  fetch: loopbackFetch,
  hash: (data, alg) => new Uint8Array(createHash(alg.replace("-", "").toLowerCase()).update(data).digest()),
  verifyJwt: async (signer, { header, compact }) => {
    if (signer.method !== "did") return { verified: false };
    const jwk = await resolveKey(signer.didUrl);
    return verifyJws(compact, header.alg, jwk) ? { verified: true, signerJwk: jwk } : { verified: false, signerJwk: jwk };
  },
};

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function describe(e) {
  const out = { name: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e) };
  const body = e?.errorResponse;
  if (body && typeof body === "object") {
    if (body.error !== undefined) out.error = body.error;
    if (body.error_description !== undefined) out.error_description = body.error_description;
  }
  return out;
}

class StepFailed extends Error {
  constructor(step, error) {
    super(`${step}: ${error.message}`);
    this.step = step;
    this.error = error;
  }
}

async function step(name, f) {
  try {
    return await f();
  } catch (e) {
    throw new StepFailed(name, describe(e));
  }
}

async function present() {
  setGlobalConfig({ allowInsecureUrls: true });
  const holderKey = createPrivateKey({ key: Buffer.from(input.holderPkcs8, "base64url"), format: "der", type: "pkcs8" });
  const holderPrivateJwk = holderKey.export({ format: "jwk" });
  const client = new Openid4vpClient({ callbacks });
  const parsed = await step("parseOpenid4vpAuthorizationRequest", () =>
    client.parseOpenid4vpAuthorizationRequest({ authorizationRequest: input.url }),
  );
  const resolved = await step("resolveOpenId4vpAuthorizationRequest", () =>
    client.resolveOpenId4vpAuthorizationRequest({ authorizationRequestPayload: parsed.params }),
  );
  const request = resolved.authorizationRequestPayload;
  const query = resolved.dcql?.query;
  const out = {
    resolved: {
      prefix: resolved.client.prefix,
      identifier: resolved.client.identifier,
      effective: resolved.client.effective,
      didUrl: resolved.client.didUrl,
      version: resolved.version,
      jar: resolved.jar ? { sendBy: resolved.jar.sendBy, typ: resolved.jar.jwt.header.typ, signer: resolved.jar.signer.method } : null,
      dcql: query,
      responseUri: request.response_uri,
      state: request.state,
    },
  };
  const target = (query?.credentials ?? []).find((c) => c.format === input.use);
  if (!target) throw new StepFailed("select", { name: "Error", message: `no ${input.use} credential query` });
  const aud = (input.audience ?? "effective") === "effective" ? resolved.client.effective : resolved.client.identifier;
  out.aud = aud;
  let presentation;
  if (input.use === "dc+sd-jwt") {
    const sdjwt = new SDJwtVcInstance({
      hasher: digest,
      saltGenerator: generateSalt,
      kbSigner: await ES256.getSigner(holderPrivateJwk),
      kbSignAlg: ES256.alg,
    });
    presentation = await step("sd-jwt present", () =>
      sdjwt.present(input.sdJwt, input.frame ?? {}, {
        kb: { payload: { aud, nonce: request.nonce, iat: input.now } },
      }),
    );
  } else {
    const header = { alg: "ES256", typ: "JWT", kid: input.holderKid };
    const payload = {
      iss: input.holderDid, aud, nonce: request.nonce, jti: `urn:uuid:${randomUUID()}`,
      iat: input.now, nbf: input.now, exp: input.now + 300,
      vp: {
        "@context": ["https://www.w3.org/2018/credentials/v1"],
        type: ["VerifiablePresentation"],
        verifiableCredential: [input.jwtVc],
      },
    };
    const signingInput = `${b64url(header)}.${b64url(payload)}`;
    const signature = sign("sha256", Buffer.from(signingInput), { key: holderKey, dsaEncoding: "ieee-p1363" });
    presentation = `${signingInput}.${signature.toString("base64url")}`;
  }
  out.answered = target.id;
  const { authorizationResponsePayload } = await step("createOpenid4vpAuthorizationResponse", () =>
    client.createOpenid4vpAuthorizationResponse({
      authorizationRequestPayload: request,
      authorizationResponsePayload: { vp_token: { [target.id]: [presentation] } },
    }),
  );
  const { response } = await step("submitOpenid4vpAuthorizationResponse", () =>
    client.submitOpenid4vpAuthorizationResponse({ authorizationRequestPayload: request, authorizationResponsePayload }),
  );
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  out.submitted = { status: response.status, body };
  return out;
}

let out;
try {
  if (command !== "present") throw new Error(`unknown command ${command}`);
  out = { ok: true, ...(await present()), http };
} catch (e) {
  out = e instanceof StepFailed
    ? { ok: false, step: e.step, error: e.error, http }
    : { ok: false, step: "harness", error: describe(e), http };
}
process.stdout.write(JSON.stringify(out) + "\n");
