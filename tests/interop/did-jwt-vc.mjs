// did-jwt-vc + did-resolver + web-did-resolver (independent JWT-VC and did:web implementations)
// on Verity's DID documents, credentials and the reference wallet's presentations.
// Usage: node did-jwt-vc.mjs <command> <input.json>; prints one JSON object.
//   resolve             { did }                                   -> { ok, didDocument, didResolutionMetadata, didDocumentMetadata }
//   verify-credential   { jwt, now?, proofPurpose? }              -> { ok, payload, verifiableCredential, issuer, signer, didDocument } | { ok: false, error }
//   verify-presentation { jwt, now?, challenge?, domain? }        -> { ok, payload, verifiablePresentation, signer, credentials: [verify-credential answer] } | { ok: false, error }
// `now` (seconds) is the time the library checks nbf/iat/exp against (the test app's clock).
// did:web documents are fetched over https by web-did-resolver (cross-fetch); the test gives
// Node its CA through NODE_EXTRA_CA_CERTS. Only loopback hosts are resolved, never the internet.
import { readFileSync } from "node:fs";
import { Resolver } from "did-resolver";
import { getResolver as webDidResolver } from "web-did-resolver";
import { verifyCredential, verifyPresentation } from "did-jwt-vc";

const [command, inputPath] = process.argv.slice(2);
const input = inputPath ? JSON.parse(readFileSync(inputPath, "utf8")) : {};

function notFound(message) {
  return { didDocument: null, didDocumentMetadata: {}, didResolutionMetadata: { error: "notFound", message } };
}

// did:web through web-did-resolver, unchanged, for hosts on this machine only.
const web = webDidResolver().web;
function isLoopback(host) {
  const name = host.startsWith("[") ? host.slice(0, host.indexOf("]") + 1) : host.replace(/:\d+$/, "");
  return name === "localhost" || name === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
async function loopbackWeb(did, parsed, resolver, options) {
  let host;
  try {
    host = decodeURIComponent(parsed.id.split(":")[0]);
  } catch {
    return notFound("interop harness: undecodable host");
  }
  if (!isLoopback(host)) {
    return notFound(`interop harness: ${host} is not a loopback host; nothing leaves this machine`);
  }
  return web(did, parsed, resolver, options);
}

// did:jwk (the reference wallet's holder DIDs) is not among the pinned packages: this follows the
// did:jwk method spec (the DID is base64url(JWK); one verification method `#0`).
async function didJwk(did, parsed) {
  let jwk;
  try {
    jwk = JSON.parse(Buffer.from(parsed.id, "base64url").toString("utf8"));
  } catch {
    return notFound("not a base64url JSON JWK");
  }
  if (typeof jwk !== "object" || jwk === null || "d" in jwk) {
    return notFound("not a public JWK");
  }
  const id = `${did}#0`;
  return {
    didDocument: {
      "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/suites/jws-2020/v1"],
      id: did,
      verificationMethod: [{ id, type: "JsonWebKey2020", controller: did, publicKeyJwk: jwk }],
      assertionMethod: [id],
      authentication: [id],
      capabilityInvocation: [id],
      capabilityDelegation: [id],
    },
    didDocumentMetadata: {},
    didResolutionMetadata: { contentType: "application/did+ld+json" },
  };
}

const resolver = new Resolver({ web: loopbackWeb, jwk: didJwk }, { cache: false });

function policies() {
  return typeof input.now === "number" ? { now: input.now } : {};
}

async function checkCredential(jwt, proofPurpose) {
  try {
    const options = { policies: policies() };
    if (proofPurpose) options.proofPurpose = proofPurpose;
    const v = await verifyCredential(jwt, resolver, options);
    return {
      ok: v.verified === true,
      payload: v.payload,
      verifiableCredential: v.verifiableCredential,
      issuer: v.issuer,
      signer: v.signer?.id ?? null,
      didDocument: v.didResolutionResult?.didDocument ?? null,
    };
  } catch (e) {
    return { ok: false, error: String(e && e.message ? e.message : e) };
  }
}

let out;
try {
  switch (command) {
    case "resolve": {
      const r = await resolver.resolve(input.did);
      out = {
        ok: !r.didResolutionMetadata?.error && r.didDocument != null,
        didDocument: r.didDocument ?? null,
        didResolutionMetadata: r.didResolutionMetadata ?? {},
        didDocumentMetadata: r.didDocumentMetadata ?? {},
      };
      break;
    }
    case "verify-credential":
      out = await checkCredential(input.jwt, input.proofPurpose);
      break;
    case "verify-presentation": {
      const v = await verifyPresentation(input.jwt, resolver, {
        challenge: input.challenge,
        domain: input.domain,
        policies: policies(),
      });
      // verifyPresentation checks the holder's signature, not the credentials inside it: a
      // careful caller verifies each one, as here.
      const credentials = [];
      for (const vc of v.verifiablePresentation.verifiableCredential ?? []) {
        credentials.push(await checkCredential(vc.proof?.jwt ?? vc));
      }
      out = {
        ok: v.verified === true,
        payload: v.payload,
        verifiablePresentation: {
          holder: v.verifiablePresentation.holder,
          verifier: v.verifiablePresentation.verifier,
          type: v.verifiablePresentation.type,
        },
        signer: v.signer?.id ?? null,
        credentials,
      };
      break;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
} catch (e) {
  out = { ok: false, error: String(e && e.message ? e.message : e) };
}
process.stdout.write(JSON.stringify(out) + "\n");
