// HEX_CACERTS_PATH (or hex.config's cacerts_path): the certificate authorities HTTPS repositories
// are checked against, instead of the built-in ones, as in Hex.
import { readFile } from "node:fs/promises";
import { setDefaultCACertificates } from "node:tls";
import { BeamixError, errorMessage } from "../errors.ts";

export async function useCaCertificates(path: string): Promise<void> {
  const text = await readFile(path, "utf8").catch((err: NodeJS.ErrnoException) => {
    throw new BeamixError(`cannot read the CA certificates ${path} (HEX_CACERTS_PATH): ${err.code ?? err.message}`);
  });
  const pems = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw new BeamixError(`${path} (HEX_CACERTS_PATH): no PEM certificate in it`);
  try {
    setDefaultCACertificates(pems);
  } catch (err) {
    throw new BeamixError(`${path} (HEX_CACERTS_PATH): ${errorMessage(err)}`);
  }
}
