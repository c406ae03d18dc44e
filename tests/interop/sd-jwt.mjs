// The @sd-jwt libraries (an independent SD-JWT VC implementation) on Verity's tokens.
// Usage: node sd-jwt.mjs <command> <input.json>; prints one JSON object.
//   keygen                       -> { publicKey, privateKey }   (ES256 JWKs)
//   verify  { token, issuerJwk, statusListToken?, requireKb?, kb? } -> { ok, claims | error }
//   present { token, holderPrivateJwk, frame, kb: { aud, nonce, iat } } -> { presentation }
import { readFileSync } from "node:fs";
import { SDJwtVcInstance } from "@sd-jwt/sd-jwt-vc";
import { ES256, digest, generateSalt } from "@sd-jwt/crypto-nodejs";

const [command, inputPath] = process.argv.slice(2);
const input = inputPath ? JSON.parse(readFileSync(inputPath, "utf8")) : {};

async function instance() {
  const config = { hasher: digest, saltGenerator: generateSalt, signAlg: ES256.alg };
  if (input.issuerJwk) {
    config.verifier = await ES256.getVerifier(input.issuerJwk);
    config.kbVerifier = async (data, sig, payload) => {
      const holder = payload?.cnf?.jwk;
      return (await ES256.getVerifier(holder))(data, sig);
    };
  }
  if (input.holderPrivateJwk) {
    config.kbSigner = await ES256.getSigner(input.holderPrivateJwk);
    config.kbSignAlg = ES256.alg;
  }
  if (input.statusListToken) {
    config.statusListFetcher = async () => input.statusListToken;
  }
  return new SDJwtVcInstance(config);
}

let out;
try {
  switch (command) {
    case "keygen":
      out = await ES256.generateKeyPair();
      break;
    case "verify": {
      const sdjwt = await instance();
      const result = await sdjwt.verify(input.token, { keyBindingNonce: input.kb?.nonce, requireKeyBindings: !!input.requireKb });
      out = { ok: true, claims: result.payload, kb: result.kb?.payload ?? null };
      break;
    }
    case "present": {
      const sdjwt = await instance();
      const presentation = await sdjwt.present(input.token, input.frame, {
        kb: { payload: { aud: input.kb.aud, nonce: input.kb.nonce, iat: input.kb.iat } },
      });
      out = { presentation };
      break;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
} catch (e) {
  out = { ok: false, error: String(e && e.message ? e.message : e) };
}
process.stdout.write(JSON.stringify(out) + "\n");
