// `--nar-store s3://BUCKET/PREFIX?endpoint=…&region=…`: objects in an S3-compatible bucket through the official
// SDK. Uploads stream in parts (lib-storage: a few parts in memory at a time, never the whole body); reads stream
// the response body; a Range goes to the bucket as it came. Credentials come from AWS_ACCESS_KEY_ID /
// AWS_SECRET_ACCESS_KEY or the SDK's usual chain. Tested against Ceph's RADOS Gateway (testing/ceph.ts).
import type { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  S3ServiceException,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { InvalidInputError } from "../../errors.js";
import { rangeHeader } from "./file.js";
import {
  type ByteRange,
  checkKey,
  type ListedObject,
  type ObjectBody,
  type ObjectMeta,
  type ObjectStore,
  StorageUnavailableError,
  UnsatisfiableRangeError,
} from "./object-store.js";

export interface S3Location {
  bucket: string;
  /** Prepended to every key: "" or "some/folder/". */
  prefix: string;
  /** An S3-compatible server (Ceph RGW, MinIO…); absent means AWS itself. */
  endpoint?: string | undefined;
  region: string;
  /** BUCKET in the path, not the host name: what self-hosted servers on an IP address need. */
  pathStyle: boolean;
}

/** Parts of a multipart upload: 8 MiB (S3's least is 5 MiB), two in flight, so at most ~16 MiB per upload in memory. */
const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
/** CopyObject's limit; bigger objects are copied part by part. */
const MAX_SINGLE_COPY = 5 * 1024 ** 3;
const COPY_PART = 512 * 1024 ** 2;

/** Network failures and 5xx answers: the store is down or overloaded, not our request wrong. */
function isUnavailable(err: unknown): boolean {
  if (err instanceof S3ServiceException) return (err.$metadata.httpStatusCode ?? 500) >= 500;
  const e = err as NodeJS.ErrnoException & { $metadata?: unknown };
  return (
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ENOTFOUND)$/.test(
      String(e.code),
    ) ||
    e.name === "TimeoutError" ||
    e.name === "RequestTimeout"
  );
}

function notFound(err: unknown): boolean {
  return (
    err instanceof S3ServiceException &&
    (err.name === "NoSuchKey" || err.name === "NotFound" || err.$metadata.httpStatusCode === 404)
  );
}

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  readonly client: S3Client;

  constructor(readonly location: S3Location) {
    this.description = `s3://${location.bucket}/${location.prefix}${location.endpoint ? ` at ${location.endpoint}` : ""}`;
    // The SDK warns on stderr, at the first client, that releases after January 2027 need Node 22: about versions
    // package-lock.json does not pin, and noise in the server's output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    this.client = new S3Client({
      region: location.region,
      ...(location.endpoint ? { endpoint: location.endpoint } : {}),
      forcePathStyle: location.pathStyle,
      // RGW 16.2 takes no trailing checksums: with them every streamed upload fails 411 MissingContentLength.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      // Bounded: a store that stopped answering fails a request in seconds, not at the OS's TCP timeout.
      requestHandler: { connectionTimeout: 3000, requestTimeout: 30_000 },
      maxAttempts: 3,
    });
  }

  private key(key: string): string {
    return `${this.location.prefix}${checkKey(key)}`;
  }

  /** Runs one SDK call; a store that is down becomes StorageUnavailableError (503) with a message to act on. */
  private async call<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw this.translate(err, what);
    }
  }

  private translate(err: unknown, what: string): unknown {
    if (!isUnavailable(err)) return err;
    const e = err as Error & { code?: string };
    return new StorageUnavailableError(
      `the object store ${this.description} did not answer (${e.code ?? e.name}: ${e.message}) while ${what}; try again in a moment`,
      { cause: err },
    );
  }

  async head(key: string): Promise<ObjectMeta | undefined> {
    try {
      const r = await this.client.send(
        new HeadObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
      );
      return { size: r.ContentLength ?? 0, etag: r.ETag ?? "", modified: r.LastModified ?? new Date(0) };
    } catch (err) {
      if (notFound(err)) return undefined;
      throw this.translate(err, `looking for ${key}`);
    }
  }

  async get(key: string, range?: ByteRange): Promise<ObjectBody | undefined> {
    try {
      const r = await this.client.send(
        new GetObjectCommand({
          Bucket: this.location.bucket,
          Key: this.key(key),
          ...(range ? { Range: rangeHeader(range) } : {}),
        }),
      );
      let size = r.ContentLength ?? 0;
      let span: { start: number; end: number } | undefined;
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(r.ContentRange ?? "");
      if (m) {
        span = { start: Number(m[1]), end: Number(m[2]) };
        size = Number(m[3]);
      }
      const meta = { size, etag: r.ETag ?? "", modified: r.LastModified ?? new Date(0) };
      return { meta, body: r.Body as Readable, ...(span ? { range: span } : {}) };
    } catch (err) {
      if (notFound(err)) return undefined;
      if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 416) {
        throw new UnsatisfiableRangeError((await this.head(key))?.size ?? 0);
      }
      throw this.translate(err, `reading ${key}`);
    }
  }

  async put(key: string, body: Readable | Buffer | string): Promise<void> {
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.location.bucket, Key: this.key(key), Body: body },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
    });
    // RGW answers CompleteMultipartUpload with an empty ETag (a known bug); nothing here relies on it.
    await this.call(`storing ${key}`, () => upload.done());
  }

  async delete(key: string): Promise<void> {
    await this.call(`deleting ${key}`, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) })),
    );
  }

  async *list(prefix: string, startAfter?: string): AsyncIterable<ListedObject> {
    let token: string | undefined;
    const strip = this.location.prefix.length;
    do {
      const page = await this.call(`listing ${prefix}`, () =>
        this.client.send(
          new ListObjectsV2Command({
            Bucket: this.location.bucket,
            Prefix: `${this.location.prefix}${prefix}`,
            ...(token ? { ContinuationToken: token } : {}),
            ...(startAfter !== undefined && !token
              ? { StartAfter: `${this.location.prefix}${startAfter}` }
              : {}),
          }),
        ),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        yield { key: o.Key.slice(strip), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) };
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async discardUnfinished(prefix: string, startedBefore: Date): Promise<string[]> {
    const { bucket } = this.location;
    const strip = this.location.prefix.length;
    const discarded: string[] = [];
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.call(`listing unfinished uploads under ${prefix}`, () =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: bucket,
            Prefix: `${this.location.prefix}${prefix}`,
            ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
        ),
      );
      for (const u of page.Uploads ?? []) {
        if (!u.Key || !u.UploadId || (u.Initiated?.getTime() ?? 0) >= startedBefore.getTime()) continue;
        const { Key, UploadId } = u;
        await this.call(`discarding the unfinished upload of ${Key.slice(strip)}`, () =>
          this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId })),
        );
        discarded.push(Key.slice(strip));
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return discarded;
  }

  /** A copy on the server side (no bytes pass through us), then the delete: S3 has no rename. */
  async move(from: string, to: string): Promise<void> {
    const { bucket } = this.location;
    const source = `${bucket}/${encodeURIComponent(this.key(from)).replace(/%2F/g, "/")}`;
    const size = (await this.head(from))?.size;
    if (size === undefined)
      throw new Error(`internal error: ${from} vanished before it could be moved to ${to}`);
    if (size <= MAX_SINGLE_COPY) {
      await this.call(`moving ${from} to ${to}`, () =>
        this.client.send(new CopyObjectCommand({ Bucket: bucket, Key: this.key(to), CopySource: source })),
      );
    } else {
      await this.call(`moving ${from} to ${to}`, () => this.copyInParts(source, to, size));
    }
    await this.delete(from);
  }

  private async copyInParts(source: string, to: string, size: number): Promise<void> {
    const { bucket } = this.location;
    const key = this.key(to);
    const { UploadId } = await this.client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    try {
      const parts: { PartNumber: number; ETag: string }[] = [];
      for (let start = 0, n = 1; start < size; start += COPY_PART, n++) {
        const end = Math.min(size, start + COPY_PART) - 1;
        const r = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: bucket,
            Key: key,
            UploadId,
            PartNumber: n,
            CopySource: source,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        parts.push({ PartNumber: n, ETag: r.CopyPartResult?.ETag ?? "" });
      }
      await this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId }))
        .catch(() => undefined);
      throw err;
    }
  }

  async presign(key: string, seconds: number): Promise<string | undefined> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({ Bucket: this.location.bucket, Key: this.key(key) }),
      {
        expiresIn: seconds,
      },
    );
  }

  async check(): Promise<void> {
    try {
      await this.client.send(
        new ListObjectsV2Command({ Bucket: this.location.bucket, Prefix: this.location.prefix, MaxKeys: 1 }),
      );
    } catch (err) {
      if (isUnavailable(err)) throw this.translate(err, "checking the bucket at start");
      const e = err as Error;
      const why: Record<string, string> = {
        NoSuchBucket: `the bucket "${this.location.bucket}" does not exist; create it first (e.g. aws s3 mb s3://${this.location.bucket})`,
        AccessDenied:
          "the credentials may not list the bucket; give them s3:ListBucket, GetObject, PutObject and DeleteObject on it",
        InvalidAccessKeyId: "the store does not know the access key; check AWS_ACCESS_KEY_ID",
        SignatureDoesNotMatch: "the store refused the signature; check AWS_SECRET_ACCESS_KEY (and region)",
        CredentialsProviderError:
          "no credentials were found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
      };
      const reason = why[e.name];
      if (reason) throw new InvalidInputError(`--nar-store ${this.description}: ${reason}`);
      if (err instanceof S3ServiceException)
        throw new InvalidInputError(
          `--nar-store ${this.description}: the store answered ${e.name} (${e.message})`,
        );
      throw err;
    }
  }

  close(): void {
    this.client.destroy();
  }
}
