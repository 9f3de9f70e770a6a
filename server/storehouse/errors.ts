// What the Storehouse refuses, and why. The messages reach `nix copy` users through the response body.
import { InvalidInputError } from "../errors.js";

/** An upload contradicts itself or the cache: `field` names the narinfo field (or `body`/`name`) at fault. */
export class UploadRejectedError extends InvalidInputError {
  override name = "UploadRejectedError";
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`, "upload_rejected");
  }
}

export { PayloadTooLargeError } from "../errors.js";

/** The NAR was compressed with something Node cannot decompress, so it could never be verified. */
export class UnsupportedCompressionError extends InvalidInputError {
  override name = "UnsupportedCompressionError";
  constructor(compression: string) {
    super(
      `Compression '${compression}' cannot be verified by this server (Node has no xz, bzip2 or zstd); upload with ?compression=br, gzip or none`,
      "unsupported_compression",
    );
  }
}
