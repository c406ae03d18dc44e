// @openid4vc/openid4vci + @openid4vc/oauth2 0.4.6 (an independent OpenID4VCI wallet-side
// implementation) receive credentials from Verity's OpenID4VCI 1.0 issuer: pre-authorized code
// flow from an `openid-credential-offer://` URL to the credential response.
// Usage: node openid4vci.mjs receive <input.json>; prints one JSON object.
//
//   receive {
//     offer,                  the openid-credential-offer:// URL (by reference or by value)
//     now,                    unix seconds: the key proof's `iat` (the test app's clock)
//     alg?,                   "ES256" (default) or "EdDSA": the holder key, made here
//     binding?,               "jwk" (default: the key in the proof's `jwk` header) or
//                             "did:jwk" (the proof's `kid` is the key's did:jwk URL `#0`)
//     txCodes?,               tx_codes to try in turn until one is accepted ([] or absent: none)
//     requests?,              credential requests to send in turn with the one access token,
//                             each with a fresh c_nonce and key proof: "proofs" (1.0, the
//                             default) or "proof" (the drafts' singular form, which the library
//                             still builds); `ok` when one of them got credentials (the first
//                             such answer is `credentials`), else the last one's error
//     metadata?               "as-served" (default), "without-credential-metadata" (every
//                             configuration's credential_metadata removed before the library
//                             sees it), "jwt-vc-only-without-credential-metadata" (also the
//                             dc+sd-jwt configurations removed)
//   }
//   -> { ok: true, version, offer, issuerMetadata, authorizationServers, holderPublicJwk,
//        holderDidUrl?, credentialResponse, credentials, steps, http }
//    | { ok: false, step, error: { name, message, status?, error?, error_description? }, ... }
//
// `steps` is one entry per library call (`{ step, ok, ... }`, failures with the same `error`
// object); `http` every request the library made (method, url, status, and for the token
// endpoint the form it sent). `version` is the OpenID4VCI version the library detected from
// the issuer metadata (`originalDraftVersion`: V1, Draft15, Draft14 or Draft11).
//
// Only loopback hosts are reached (the fetch callback refuses anything else), over plain http:
// the library accepts http:// URLs only with its global `allowInsecureUrls` setting, which is
// switched on here because every URL is a loopback one. Keys, hashing, randomness and JWT
// signatures use node:crypto only.
import { readFileSync } from "node:fs";
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { Openid4vciClient, setGlobalConfig } from "@openid4vc/openid4vci";
import { clientAuthenticationAnonymous } from "@openid4vc/oauth2";

const [command, inputPath] = process.argv.slice(2);
const input = inputPath ? JSON.parse(readFileSync(inputPath, "utf8")) : {};

const steps = [];
const http = [];
// What the flow learned so far; part of the answer also when a step fails.
const answer = {};

function isLoopback(url) {
  const host = new URL(url).hostname;
  return host === "localhost" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

// The holder key: ES256 (P-256, JOSE signatures are r || s) or EdDSA (Ed25519).
function holderKey(alg) {
  if (alg === "EdDSA") {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    return {
      alg,
      publicJwk: publicKey.export({ format: "jwk" }),
      sign: (data) => sign(null, data, privateKey),
    };
  }
  if (alg === "ES256") {
    const { publicKey, privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    return {
      alg,
      publicJwk: publicKey.export({ format: "jwk" }),
      sign: (data) => sign("sha256", data, { key: privateKey, dsaEncoding: "ieee-p1363" }),
    };
  }
  throw new Error(`unsupported alg ${alg}`);
}

const b64url = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");

function rewriteMetadata(body) {
  const mode = input.metadata ?? "as-served";
  if (mode === "as-served") return body;
  const configurations = {};
  for (const [id, configuration] of Object.entries(body.credential_configurations_supported ?? {})) {
    if (mode === "jwt-vc-only-without-credential-metadata" && configuration.format !== "jwt_vc_json") continue;
    const { credential_metadata: _dropped, ...rest } = configuration;
    configurations[id] = rest;
  }
  return { ...body, credential_configurations_supported: configurations };
}

// The library's only way out: loopback only, every request recorded, the issuer metadata
// optionally rewritten (to show how the library guesses a version).
async function loopbackFetch(resource, init) {
  const url = typeof resource === "string" ? resource : resource.url;
  if (!isLoopback(url)) {
    throw new Error(`interop harness: ${url} is not a loopback URL; nothing leaves this machine`);
  }
  const entry = { method: init?.method ?? "GET", url };
  if (typeof init?.body === "string" && url.endsWith("/token")) {
    entry.form = Object.fromEntries(new URLSearchParams(init.body));
  } else if (typeof init?.body === "string") {
    try {
      entry.json = JSON.parse(init.body);
    } catch {
      entry.body = init.body;
    }
  }
  const response = await fetch(resource, init);
  entry.status = response.status;
  http.push(entry);
  if (response.ok && new URL(url).pathname.startsWith("/.well-known/openid-credential-issuer")) {
    const body = rewriteMetadata(await response.json());
    return new Response(JSON.stringify(body), {
      status: response.status,
      headers: { "content-type": "application/json" },
    });
  }
  return response;
}

// What a library error says, with the spec's error body when the library kept one.
function describe(e) {
  const out = { name: e?.constructor?.name ?? typeof e, message: String(e?.message ?? e) };
  const body =
    e?.errorResponse ??
    e?.response?.credentialErrorResponseResult?.data ??
    (typeof e?.textResponse === "string" ? parseJson(e.textResponse) : undefined);
  if (body && typeof body === "object") {
    if (body.error !== undefined) out.error = body.error;
    if (body.error_description !== undefined) out.error_description = body.error_description;
  }
  const status = e?.response?.status ?? e?.response?.response?.status;
  if (typeof status === "number") out.status = status;
  return out;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

class StepFailed extends Error {
  constructor(step, error) {
    super(`${step}: ${error.message}`);
    this.step = step;
    this.error = error;
  }
}

async function step(name, f, extra = () => ({})) {
  try {
    const result = await f();
    steps.push({ step: name, ok: true, ...extra(result) });
    return result;
  } catch (e) {
    const error = describe(e);
    steps.push({ step: name, ok: false, error });
    throw new StepFailed(name, error);
  }
}

async function receive() {
  if (!isLoopback(new URL(input.offer).searchParams.get("credential_offer_uri") ?? "http://127.0.0.1")) {
    throw new Error("interop harness: the offer must point at a loopback URL");
  }
  // The test app serves plain http on 127.0.0.1; the library needs this to accept http:// URLs.
  setGlobalConfig({ allowInsecureUrls: true });
  const key = holderKey(input.alg ?? "ES256");
  // did:jwk: the DID is base64url(JWK), its one verification method `#0`.
  const didUrl = `did:jwk:${b64url(key.publicJwk)}#0`;
  const signer =
    (input.binding ?? "jwk") === "did:jwk"
      ? { method: "did", alg: key.alg, didUrl }
      : { method: "jwk", alg: key.alg, publicJwk: key.publicJwk };
  const callbacks = {
    fetch: loopbackFetch,
    hash: (data, alg) => new Uint8Array(createHash(alg.replace("-", "")).update(data).digest()),
    generateRandom: (length) => new Uint8Array(randomBytes(length)),
    clientAuthentication: clientAuthenticationAnonymous(),
    signJwt: async (signer, { header, payload }) => {
      const ours = signer.method === "jwk"
          ? JSON.stringify(signer.publicJwk) === JSON.stringify(key.publicJwk)
          : signer.didUrl === didUrl;
      if (!ours) throw new Error(`interop harness: asked to sign for a key it does not hold (${signer.method})`);
      const signingInput = `${b64url(header)}.${b64url(payload)}`;
      const signature = key.sign(Buffer.from(signingInput)).toString("base64url");
      return { jwt: `${signingInput}.${signature}`, signerJwk: key.publicJwk };
    },
  };
  const client = new Openid4vciClient({ callbacks });
  answer.holderPublicJwk = key.publicJwk;
  if (signer.method === "did") answer.holderDidUrl = didUrl;

  const offer = await step("resolveCredentialOffer", () => client.resolveCredentialOffer(input.offer));
  answer.offer = offer;
  const issuerMetadata = await step(
    "resolveIssuerMetadata",
    () => client.resolveIssuerMetadata(offer.credential_issuer),
    (m) => ({ version: m.originalDraftVersion }),
  );
  answer.version = issuerMetadata.originalDraftVersion;
  answer.issuerMetadata = issuerMetadata.credentialIssuer;
  answer.authorizationServers = issuerMetadata.authorizationServers;

  const txCodes = input.txCodes ?? [];
  let token;
  for (let i = 0; token === undefined; i++) {
    const txCode = txCodes[i];
    try {
      token = await step(
        "retrievePreAuthorizedCodeAccessTokenFromOffer",
        () => client.retrievePreAuthorizedCodeAccessTokenFromOffer({ credentialOffer: offer, issuerMetadata, txCode }),
        (t) => ({ txCode, tokenType: t.accessTokenResponse.token_type, expiresIn: t.accessTokenResponse.expires_in }),
      );
    } catch (e) {
      steps[steps.length - 1].txCode = txCode;
      if (i + 1 >= txCodes.length) throw e;
    }
  }
  const accessToken = token.accessTokenResponse.access_token;

  const credentialConfigurationId = offer.credential_configuration_ids[0];
  const shapes = input.requests ?? ["proofs"];
  let lastError;
  for (const shape of shapes) {
    const nonce = await step("requestNonce", () => client.requestNonce({ issuerMetadata }));
    const { jwt } = await step("createCredentialRequestJwtProof", () =>
      client.createCredentialRequestJwtProof({
        issuerMetadata,
        credentialConfigurationId,
        nonce: nonce.c_nonce,
        issuedAt: new Date(input.now * 1000),
        signer,
      }),
    );
    const proof = shape === "proof" ? { proof: { proof_type: "jwt", jwt } } : { proofs: { jwt: [jwt] } };
    try {
      const response = await step(
        "retrieveCredentials",
        () => client.retrieveCredentials({ issuerMetadata, credentialConfigurationId, accessToken, ...proof }),
        () => ({ shape }),
      );
      if (answer.credentials === undefined) {
        answer.credentialResponse = response.credentialResponse;
        answer.credentials = (response.credentialResponse.credentials ?? []).map((c) =>
          typeof c === "object" && c !== null && "credential" in c ? c.credential : c,
        );
      }
    } catch (e) {
      steps[steps.length - 1].shape = shape;
      lastError = e;
    }
  }
  if (answer.credentials === undefined) throw lastError;
  return { ok: true, ...answer };
}

let out;
try {
  if (command !== "receive") throw new Error(`unknown command ${command}`);
  out = await receive();
} catch (e) {
  out = e instanceof StepFailed ? { ok: false, step: e.step, error: e.error } : { ok: false, error: describe(e) };
  Object.assign(out, answer);
}
out.steps = steps;
out.http = http;
process.stdout.write(JSON.stringify(out) + "\n");
