// A typed client for the HTTP API v1 (docs/API.md): one method per endpoint, every answer checked by its schema.
import type { z } from "zod";
import {
  BaseSetResponse,
  type Build,
  type BuildDetail,
  type Builder,
  BuildersResponse,
  BuildResponse,
  type BuildState,
  BuildsChangedResponse,
  BuildsResponse,
  type Channel,
  ChannelHistoryResponse,
  type ChannelPoint,
  ChannelResponse,
  ChannelsResponse,
  type CreateOrgBody,
  type CreateProfileBody,
  type CreateTokenBody,
  CreateTokenResponse,
  ErrorBody,
  type Evaluation,
  type EvaluationDetail,
  EvaluationResponse,
  EvaluationsResponse,
  GenerationDiffResponse,
  GenerationsResponse,
  HealthResponse,
  type InstallBody,
  type Jobset,
  JobsetsResponse,
  type Machine,
  MachineResponse,
  MachinesResponse,
  type Member,
  MemberResponse,
  MembersResponse,
  type Org,
  OrgResponse,
  OrgsResponse,
  type Profile,
  ProfileEditResponse,
  ProfileResponse,
  type ProfileStatus,
  ProfileStatusResponse,
  ProfilesResponse,
  type Push,
  PushesResponse,
  type RemoveBody,
  type ReportBody,
  type Role,
  type RollbackBody,
  type Schedule,
  type ScheduleBody,
  ScheduleResponse,
  type SubscriptionBody,
  type TokenInfo,
  TokensResponse,
  type UpdateOrgBody,
  type UpgradeBody,
  type User,
  UserResponse,
  UsersResponse,
  WhoamiResponse,
} from "./api-schemas.js";

/** The server answered with an error status; `message` is the server's own explanation. */
export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly url: string,
  ) {
    super(message);
  }
}

/** The request never got an answer: nothing listening, DNS, TLS, timeout. */
export class ApiUnreachableError extends Error {
  override name = "ApiUnreachableError";
  constructor(
    readonly server: string,
    readonly reason: string,
  ) {
    super(`cannot reach the flox server at ${server}: ${reason} — is \`flox server\` running?`);
  }
}

/** The server answered 2xx but not with what the API promises (a different version, or not a flox server). */
export class ApiResponseError extends Error {
  override name = "ApiResponseError";
}

export interface ApiClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:8080` (no `/api/v1`). */
  server: string;
  token?: string | undefined;
  /** Per request; the default suits interactive use. */
  timeoutMs?: number;
}

type Method = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export class ApiClient {
  readonly server: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;

  constructor(options: ApiClientOptions) {
    this.server = options.server.replace(/\/+$/, "");
    this.#token = options.token;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async health(): Promise<HealthResponse> {
    return this.#request("GET", "/health", HealthResponse);
  }

  async baseSet(): Promise<BaseSetResponse["baseSet"]> {
    return (await this.#request("GET", "/base-set", BaseSetResponse)).baseSet;
  }

  async whoami(): Promise<TokenInfo> {
    return (await this.#request("GET", "/whoami", WhoamiResponse)).token;
  }

  async createOrg(body: CreateOrgBody): Promise<Org> {
    return (await this.#request("POST", "/orgs", OrgResponse, body)).org;
  }

  async listOrgs(): Promise<Org[]> {
    return (await this.#request("GET", "/orgs", OrgsResponse)).orgs;
  }

  async getOrg(org: string): Promise<Org> {
    return (await this.#request("GET", `/orgs/${seg(org)}`, OrgResponse)).org;
  }

  async updateOrg(org: string, body: UpdateOrgBody): Promise<Org> {
    return (await this.#request("PATCH", `/orgs/${seg(org)}`, OrgResponse, body)).org;
  }

  async createUser(name: string): Promise<User> {
    return (await this.#request("POST", "/users", UserResponse, { name })).user;
  }

  async listUsers(): Promise<User[]> {
    return (await this.#request("GET", "/users", UsersResponse)).users;
  }

  /** Adds the user to the org, or changes their role there. */
  async setMember(org: string, user: string, role: Role): Promise<Member> {
    const path = `/orgs/${seg(org)}/members/${seg(user)}`;
    return (await this.#request("PUT", path, MemberResponse, { role })).member;
  }

  async listMembers(org: string): Promise<Member[]> {
    return (await this.#request("GET", `/orgs/${seg(org)}/members`, MembersResponse)).members;
  }

  async removeMember(org: string, user: string): Promise<void> {
    await this.#request("DELETE", `/orgs/${seg(org)}/members/${seg(user)}`, null);
  }

  /** The answer holds the secret: the only time anyone sees it. */
  async createToken(body: CreateTokenBody): Promise<CreateTokenResponse> {
    return this.#request("POST", "/tokens", CreateTokenResponse, body);
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await this.#request("GET", "/tokens", TokensResponse)).tokens;
  }

  async revokeToken(id: number): Promise<void> {
    await this.#request("DELETE", `/tokens/${seg(String(id))}`, null);
  }

  /** Newest first. */
  async listPushes(org: string): Promise<Push[]> {
    return (await this.#request("GET", `/orgs/${seg(org)}/pushes`, PushesResponse)).pushes;
  }

  async listJobsets(org: string): Promise<Jobset[]> {
    return (await this.#request("GET", `/orgs/${seg(org)}/jobsets`, JobsetsResponse)).jobsets;
  }

  /** Newest first. */
  async listEvaluations(org: string, branch: string): Promise<Evaluation[]> {
    const path = `/orgs/${seg(org)}/jobsets/${seg(branch)}/evaluations`;
    return (await this.#request("GET", path, EvaluationsResponse)).evaluations;
  }

  async getEvaluation(id: number): Promise<EvaluationDetail> {
    return (await this.#request("GET", `/evaluations/${seg(String(id))}`, EvaluationResponse)).evaluation;
  }

  async listBuilds(filter: { state?: BuildState; org?: string; limit?: number } = {}): Promise<Build[]> {
    const q = new URLSearchParams();
    if (filter.state) q.set("state", filter.state);
    if (filter.org) q.set("org", filter.org);
    if (filter.limit) q.set("limit", String(filter.limit));
    const path = `/builds${q.size ? `?${q}` : ""}`;
    return (await this.#request("GET", path, BuildsResponse)).builds;
  }

  async getBuild(id: number): Promise<BuildDetail> {
    return (await this.#request("GET", `/builds/${seg(String(id))}`, BuildResponse)).build;
  }

  async cancelBuild(id: number): Promise<BuildDetail> {
    return (await this.#request("POST", `/builds/${seg(String(id))}/cancel`, BuildResponse)).build;
  }

  async restartBuild(id: number): Promise<BuildDetail> {
    return (await this.#request("POST", `/builds/${seg(String(id))}/restart`, BuildResponse)).build;
  }

  /** Without a priority, the build goes ahead of everything queued now. */
  async bumpBuild(id: number, priority?: number): Promise<BuildDetail> {
    const body = priority === undefined ? {} : { priority };
    return (await this.#request("POST", `/builds/${seg(String(id))}/priority`, BuildResponse, body)).build;
  }

  /** The builds whose state changed. */
  async cancelEvaluation(id: number): Promise<number[]> {
    return (await this.#request("POST", `/evaluations/${seg(String(id))}/cancel`, BuildsChangedResponse))
      .changed;
  }

  async restartEvaluation(id: number): Promise<number[]> {
    return (await this.#request("POST", `/evaluations/${seg(String(id))}/restart`, BuildsChangedResponse))
      .changed;
  }

  async listBuilders(): Promise<Builder[]> {
    return (await this.builders()).builders;
  }

  /** The builders and the queue (how many builds wait and run, over every org). */
  async builders(): Promise<BuildersResponse> {
    return this.#request("GET", "/builders", BuildersResponse);
  }

  /**
   * The build's log from `offset` as a byte stream; with `follow`, it stays open and carries new bytes until
   * the build finished. No timeout: a followed build may run for hours.
   */
  async buildLog(
    id: number,
    opts: { offset?: number; follow?: boolean } = {},
  ): Promise<ReadableStream<Uint8Array>> {
    const q = new URLSearchParams({ offset: String(opts.offset ?? 0) });
    if (opts.follow) q.set("follow", "1");
    const url = `${this.server}/api/v1/builds/${seg(String(id))}/log?${q}`;
    let res: Response;
    try {
      res = await fetch(url, { headers: this.#token ? { authorization: `Bearer ${this.#token}` } : {} });
    } catch (err) {
      throw new ApiUnreachableError(this.server, networkReason(err, this.#timeoutMs));
    }
    if (!res.ok || !res.body) throw errorFromAnswer(res, await res.text(), url);
    return res.body;
  }

  async listChannels(): Promise<ChannelsResponse["channels"]> {
    return (await this.#request("GET", "/channels", ChannelsResponse)).channels;
  }

  /** `acme` (branch main) or `acme/BRANCH`. */
  async getChannel(name: string): Promise<Channel> {
    return (await this.#request("GET", channelPath(name), ChannelResponse)).channel;
  }

  async channelHistory(name: string): Promise<ChannelPoint[]> {
    return (await this.#request("GET", `${channelPath(name, true)}/history`, ChannelHistoryResponse)).history;
  }

  async pinChannel(name: string, evaluation: number): Promise<Channel> {
    const path = `${channelPath(name, true)}/pin`;
    return (await this.#request("POST", path, ChannelResponse, { evaluation })).channel;
  }

  async unpinChannel(name: string): Promise<Channel> {
    return (await this.#request("POST", `${channelPath(name, true)}/unpin`, ChannelResponse, {})).channel;
  }

  async listProfiles(): Promise<Profile[]> {
    return (await this.#request("GET", "/profiles", ProfilesResponse)).profiles;
  }

  async createProfile(org: string, body: CreateProfileBody): Promise<Profile> {
    return (await this.#request("POST", `/orgs/${seg(org)}/profiles`, ProfileResponse, body)).profile;
  }

  async getProfile(org: string, name: string): Promise<Profile> {
    return (await this.#request("GET", `/profiles/${seg(org)}/${seg(name)}`, ProfileResponse)).profile;
  }

  /** `action`: install, remove, upgrade or rollback, with its body. */
  async editProfile(
    org: string,
    name: string,
    action: "install" | "remove" | "upgrade" | "rollback",
    body: InstallBody | RemoveBody | UpgradeBody | RollbackBody,
  ): Promise<ProfileEditResponse> {
    return this.#request("POST", `/profiles/${seg(org)}/${seg(name)}/${action}`, ProfileEditResponse, body);
  }

  async profileGenerations(org: string, name: string): Promise<GenerationsResponse> {
    return this.#request("GET", `/profiles/${seg(org)}/${seg(name)}/generations`, GenerationsResponse);
  }

  async profileDiff(org: string, name: string, from: number, to: number): Promise<GenerationDiffResponse> {
    const path = `/profiles/${seg(org)}/${seg(name)}/diff?from=${from}&to=${to}`;
    return this.#request("GET", path, GenerationDiffResponse);
  }

  async getSchedule(org: string, name: string): Promise<Schedule> {
    return (await this.#request("GET", `/profiles/${seg(org)}/${seg(name)}/schedule`, ScheduleResponse))
      .schedule;
  }

  async setSchedule(org: string, name: string, body: ScheduleBody): Promise<Schedule> {
    const path = `/profiles/${seg(org)}/${seg(name)}/schedule`;
    return (await this.#request("PUT", path, ScheduleResponse, body)).schedule;
  }

  /** With a machine token: registers this machine under `name` (again: a no-op). */
  async registerMachine(name: string): Promise<Machine> {
    return (await this.#request("POST", "/machines", MachineResponse, { name })).machine;
  }

  /** People: the machines of the orgs they may read; a machine token: itself. */
  async listMachines(): Promise<Machine[]> {
    return (await this.#request("GET", "/machines", MachinesResponse)).machines;
  }

  async machineMe(): Promise<Machine> {
    return (await this.#request("GET", "/machines/me", MachineResponse)).machine;
  }

  async subscribe(body: SubscriptionBody): Promise<Machine> {
    return (await this.#request("POST", "/machines/me/subscriptions", MachineResponse, body)).machine;
  }

  async unsubscribe(body: SubscriptionBody): Promise<Machine> {
    const q = new URLSearchParams(body.profile ? { profile: body.profile } : { channel: body.channel ?? "" });
    return (await this.#request("DELETE", `/machines/me/subscriptions?${q}`, MachineResponse)).machine;
  }

  async report(body: ReportBody): Promise<void> {
    await this.#request("POST", "/machines/me/reports", null, body);
  }

  async profileStatus(org: string, name: string): Promise<ProfileStatus> {
    return (await this.#request("GET", `/profiles/${seg(org)}/${seg(name)}/status`, ProfileStatusResponse))
      .status;
  }

  /**
   * The machine's event stream (`text/event-stream`), resuming after `lastEventId`; read it with `readSse`
   * (lib/sse.ts). No timeout: it stays open until `signal` aborts or the server goes.
   */
  async machineEvents(lastEventId: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const url = `${this.server}/api/v1/machines/me/events`;
    const headers: Record<string, string> = {
      accept: "text/event-stream",
      "last-event-id": String(lastEventId),
    };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal });
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiUnreachableError(this.server, networkReason(err, this.#timeoutMs));
    }
    if (!res.ok || !res.body) throw errorFromAnswer(res, await res.text(), url);
    return res.body;
  }

  async #request<S extends z.ZodTypeAny>(
    method: Method,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.infer<S>>;
  async #request(method: Method, path: string, schema: null, body?: unknown): Promise<undefined>;
  async #request(
    method: Method,
    path: string,
    schema: z.ZodTypeAny | null,
    body?: unknown,
  ): Promise<unknown> {
    const url = `${this.server}/api/v1${path}`;
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers["content-type"] = "application/json";

    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new ApiUnreachableError(this.server, networkReason(err, this.#timeoutMs));
    }

    const text = await res.text();
    if (!res.ok) throw errorFromAnswer(res, text, url);
    if (schema === null) return undefined;

    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ApiResponseError(`${method} ${url} answered ${res.status} with something that is not JSON`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
      throw new ApiResponseError(
        `${method} ${url} answered in an unexpected shape${where}: ${issue?.message ?? "invalid"} (is the server the same flox version?)`,
      );
    }
    return parsed.data;
  }
}

/** `/channels/ORG[/BRANCH]`; with `withBranch`, main is spelled out (the history and pin routes need it). */
function channelPath(name: string, withBranch = false): string {
  const slash = name.indexOf("/");
  const org = slash < 0 ? name : name.slice(0, slash);
  const branch = slash < 0 ? (withBranch ? "main" : undefined) : name.slice(slash + 1);
  return `/channels/${seg(org)}${branch === undefined ? "" : `/${seg(branch)}`}`;
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function errorFromAnswer(res: Response, text: string, url: string): ApiError {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = ErrorBody.safeParse(json);
  if (parsed.success) return new ApiError(res.status, parsed.data.error.code, parsed.data.error.message, url);
  // Not our error format: a proxy, or not a flox server at all. Show a bit of what came back.
  const snippet = text.trim().slice(0, 200);
  const message = `${url} answered ${res.status} ${res.statusText}${snippet ? `: ${snippet}` : ""}`;
  return new ApiError(res.status, "http_error", message, url);
}

// fetch() wraps the interesting error (ECONNREFUSED, ENOTFOUND, …) in `cause`, sometimes two levels deep.
function networkReason(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
    return `no answer within ${timeoutMs / 1000}s`;
  }
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e instanceof Error; depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === "string" && !code.startsWith("UND_ERR_")) return code;
    if (e.cause === undefined) break;
    e = e.cause;
  }
  return e instanceof Error ? e.message : String(err);
}
