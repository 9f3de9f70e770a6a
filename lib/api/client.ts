// A typed client for the HTTP API v1 (docs/API.md): one method per endpoint, every answer checked by its schema.

import { Backoff } from "../retry.js";
import {
  type Builder,
  BuildersResponse,
  type BuildResultBody,
  BuildResultResponse,
  type ClaimBody,
  ClaimResponse,
  HeartbeatResponse,
} from "./builders.js";
import {
  type Build,
  type BuildDetail,
  BuildResponse,
  type BuildState,
  BuildsChangedResponse,
  BuildsResponse,
} from "./builds.js";
import {
  type Channel,
  ChannelHistoryResponse,
  type ChannelPoint,
  ChannelResponse,
  ChannelsResponse,
} from "./channels.js";
import {
  type Evaluation,
  type EvaluationDetail,
  EvaluationResponse,
  EvaluationsResponse,
  type Jobset,
  JobsetsResponse,
} from "./evaluations.js";
import {
  type Machine,
  MachineResponse,
  MachinesResponse,
  type ReportBody,
  type SubscriptionBody,
} from "./machines.js";
import {
  type CreateOrgBody,
  type Member,
  MemberResponse,
  MembersResponse,
  type Org,
  OrgResponse,
  OrgsResponse,
  type Role,
  type UpdateOrgBody,
  type User,
  UserResponse,
  UsersResponse,
} from "./orgs.js";
import {
  type CreateProfileBody,
  GenerationDiffResponse,
  GenerationsResponse,
  type InstallBody,
  type Profile,
  ProfileEditResponse,
  ProfileResponse,
  type ProfileStatus,
  ProfileStatusResponse,
  ProfilesResponse,
  type RemoveBody,
  type RollbackBody,
  type Schedule,
  type ScheduleBody,
  ScheduleResponse,
  type UpgradeBody,
} from "./profiles.js";
import { type Push, PushesResponse } from "./pushes.js";
import { type RelaySession, RelaySessionsResponse } from "./relay.js";
import { BaseSetResponse, HealthResponse } from "./server.js";
import { isServerFailure, ServerList, type ServerListOptions } from "./servers.js";
import {
  type GcBody,
  type GcReport,
  GcResponse,
  type Pin,
  type PinBody,
  PinResponse,
  PinsRemovedResponse,
  PinsResponse,
  type Retention,
  type RetentionBody,
  RetentionResponse,
  type StorehouseUsage,
  StorehouseUsageResponse,
} from "./storehouse-gc.js";
import {
  type CreateTokenBody,
  CreateTokenResponse,
  type TokenInfo,
  TokensResponse,
  WhoamiResponse,
} from "./tokens.js";
import { type Connection, request, seg, stream } from "./transport.js";

/** How long a followed log waits out a fleet it cannot reach before it gives up. */
const FOLLOW_OUTAGE_MS = 60_000;

export interface ApiClientOptions {
  /**
   * Base URL of the server, e.g. `http://127.0.0.1:8080` (no `/api/v1`); several as `URL1,URL2,…` or an array, or
   * a ServerList shared with other clients, so that all of them move on together when a server goes.
   */
  server: string | readonly string[] | ServerList;
  token?: string | undefined;
  /** Per request; the default suits interactive use. */
  timeoutMs?: number;
  /** How the list fails over (ignored when `server` is a ServerList already). */
  failover?: ServerListOptions;
}

export class ApiClient {
  readonly #conn: Connection;

  constructor(options: ApiClientOptions) {
    const servers =
      options.server instanceof ServerList
        ? options.server
        : new ServerList(options.server, options.failover);
    this.#conn = { servers, token: options.token, timeoutMs: options.timeoutMs ?? 30_000 };
  }

  /** The server asked next (the one that answered last). */
  get server(): string {
    return this.#conn.servers.current;
  }

  get servers(): ServerList {
    return this.#conn.servers;
  }

  async health(): Promise<HealthResponse> {
    return request(this.#conn, "GET", "/health", HealthResponse);
  }

  async baseSet(): Promise<BaseSetResponse["baseSet"]> {
    return (await request(this.#conn, "GET", "/base-set", BaseSetResponse)).baseSet;
  }

  async whoami(): Promise<TokenInfo> {
    return (await request(this.#conn, "GET", "/whoami", WhoamiResponse)).token;
  }

  async createOrg(body: CreateOrgBody): Promise<Org> {
    return (await request(this.#conn, "POST", "/orgs", OrgResponse, body)).org;
  }

  async listOrgs(): Promise<Org[]> {
    return (await request(this.#conn, "GET", "/orgs", OrgsResponse)).orgs;
  }

  /** The org's relay activity log: each relayed Nix daemon connection and the builds it asked for. */
  async relaySessions(org: string, limit?: number): Promise<RelaySession[]> {
    const q = limit ? `?limit=${limit}` : "";
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}/relay-sessions${q}`, RelaySessionsResponse))
      .sessions;
  }

  async getOrg(org: string): Promise<Org> {
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}`, OrgResponse)).org;
  }

  async updateOrg(org: string, body: UpdateOrgBody): Promise<Org> {
    return (await request(this.#conn, "PATCH", `/orgs/${seg(org)}`, OrgResponse, body)).org;
  }

  async createUser(name: string): Promise<User> {
    return (await request(this.#conn, "POST", "/users", UserResponse, { name })).user;
  }

  async listUsers(): Promise<User[]> {
    return (await request(this.#conn, "GET", "/users", UsersResponse)).users;
  }

  /** Adds the user to the org, or changes their role there. */
  async setMember(org: string, user: string, role: Role): Promise<Member> {
    const path = `/orgs/${seg(org)}/members/${seg(user)}`;
    return (await request(this.#conn, "PUT", path, MemberResponse, { role })).member;
  }

  async listMembers(org: string): Promise<Member[]> {
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}/members`, MembersResponse)).members;
  }

  async removeMember(org: string, user: string): Promise<void> {
    await request(this.#conn, "DELETE", `/orgs/${seg(org)}/members/${seg(user)}`, null);
  }

  /** The answer holds the secret: the only time anyone sees it. */
  async createToken(body: CreateTokenBody): Promise<CreateTokenResponse> {
    return request(this.#conn, "POST", "/tokens", CreateTokenResponse, body);
  }

  async listTokens(): Promise<TokenInfo[]> {
    return (await request(this.#conn, "GET", "/tokens", TokensResponse)).tokens;
  }

  async revokeToken(id: number): Promise<void> {
    await request(this.#conn, "DELETE", `/tokens/${seg(String(id))}`, null);
  }

  /** Newest first. */
  async listPushes(org: string): Promise<Push[]> {
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}/pushes`, PushesResponse)).pushes;
  }

  async listJobsets(org: string): Promise<Jobset[]> {
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}/jobsets`, JobsetsResponse)).jobsets;
  }

  /** Newest first. */
  async listEvaluations(org: string, branch: string): Promise<Evaluation[]> {
    const path = `/orgs/${seg(org)}/jobsets/${seg(branch)}/evaluations`;
    return (await request(this.#conn, "GET", path, EvaluationsResponse)).evaluations;
  }

  async getEvaluation(id: number): Promise<EvaluationDetail> {
    return (await request(this.#conn, "GET", `/evaluations/${seg(String(id))}`, EvaluationResponse))
      .evaluation;
  }

  async listBuilds(filter: { state?: BuildState; org?: string; limit?: number } = {}): Promise<Build[]> {
    const q = new URLSearchParams();
    if (filter.state) q.set("state", filter.state);
    if (filter.org) q.set("org", filter.org);
    if (filter.limit) q.set("limit", String(filter.limit));
    const path = `/builds${q.size ? `?${q}` : ""}`;
    return (await request(this.#conn, "GET", path, BuildsResponse)).builds;
  }

  async getBuild(id: number): Promise<BuildDetail> {
    return (await request(this.#conn, "GET", `/builds/${seg(String(id))}`, BuildResponse)).build;
  }

  async cancelBuild(id: number): Promise<BuildDetail> {
    const path = `/builds/${seg(String(id))}/cancel`;
    // Cancelling twice is cancelling once.
    return (await request(this.#conn, "POST", path, BuildResponse, undefined, "idempotent")).build;
  }

  async restartBuild(id: number): Promise<BuildDetail> {
    return (await request(this.#conn, "POST", `/builds/${seg(String(id))}/restart`, BuildResponse)).build;
  }

  /** Without a priority, the build goes ahead of everything queued now. */
  async bumpBuild(id: number, priority?: number): Promise<BuildDetail> {
    const body = priority === undefined ? {} : { priority };
    return (await request(this.#conn, "POST", `/builds/${seg(String(id))}/priority`, BuildResponse, body))
      .build;
  }

  /** The builds whose state changed. */
  async cancelEvaluation(id: number): Promise<number[]> {
    return (
      await request(this.#conn, "POST", `/evaluations/${seg(String(id))}/cancel`, BuildsChangedResponse)
    ).changed;
  }

  async restartEvaluation(id: number): Promise<number[]> {
    return (
      await request(this.#conn, "POST", `/evaluations/${seg(String(id))}/restart`, BuildsChangedResponse)
    ).changed;
  }

  async listBuilders(): Promise<Builder[]> {
    return (await this.builders()).builders;
  }

  /** The builders and the queue (how many builds wait and run, over every org). */
  async builders(): Promise<BuildersResponse> {
    return request(this.#conn, "GET", "/builders", BuildersResponse);
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
    return stream(this.#conn, `/builds/${seg(String(id))}/log?${q}`, {});
  }

  /**
   * The build's log from `offset` until the build finished, as it is written. A stream cut off by a server that
   * went away is opened again after the last byte seen, on the next server when that one is gone for good. A fleet
   * that cannot open it at all (every server away or answering 5xx: PostgreSQL restarting, say) is waited out for
   * up to `outageMs`, asked again at growing intervals.
   */
  async *followBuildLog(id: number, offset = 0, outageMs = FOLLOW_OUTAGE_MS): AsyncGenerator<Uint8Array> {
    let at = offset;
    let fruitless = 0;
    let away: number | undefined;
    const backoff = new Backoff({ firstMs: 500, maxMs: 5000 });
    for (;;) {
      let body: ReadableStream<Uint8Array>;
      try {
        body = await this.buildLog(id, { offset: at, follow: true });
      } catch (err) {
        away ??= Date.now();
        if (!isServerFailure(err) || Date.now() - away > outageMs) throw err;
        await new Promise((r) => setTimeout(r, backoff.next()));
        continue;
      }
      away = undefined;
      backoff.reset();
      const server = this.server;
      const before = at;
      try {
        for await (const chunk of body) {
          at += chunk.byteLength;
          yield chunk;
        }
        return;
      } catch (err) {
        // Three breaks in a row without a byte between them: the stream itself is the problem, not a server.
        fruitless = at > before ? 0 : fruitless + 1;
        if (fruitless >= 3) throw err;
        this.#conn.servers.failed(server, err as Error);
      }
    }
  }

  async listChannels(): Promise<ChannelsResponse["channels"]> {
    return (await request(this.#conn, "GET", "/channels", ChannelsResponse)).channels;
  }

  /** `acme` (branch main) or `acme/BRANCH`. */
  async getChannel(name: string): Promise<Channel> {
    return (await request(this.#conn, "GET", channelPath(name), ChannelResponse)).channel;
  }

  async channelHistory(name: string): Promise<ChannelPoint[]> {
    return (await request(this.#conn, "GET", `${channelPath(name, true)}/history`, ChannelHistoryResponse))
      .history;
  }

  async pinChannel(name: string, evaluation: number): Promise<Channel> {
    const path = `${channelPath(name, true)}/pin`;
    return (await request(this.#conn, "POST", path, ChannelResponse, { evaluation })).channel;
  }

  async unpinChannel(name: string): Promise<Channel> {
    return (await request(this.#conn, "POST", `${channelPath(name, true)}/unpin`, ChannelResponse, {}))
      .channel;
  }

  async listProfiles(): Promise<Profile[]> {
    return (await request(this.#conn, "GET", "/profiles", ProfilesResponse)).profiles;
  }

  async createProfile(org: string, body: CreateProfileBody): Promise<Profile> {
    return (await request(this.#conn, "POST", `/orgs/${seg(org)}/profiles`, ProfileResponse, body)).profile;
  }

  async getProfile(org: string, name: string): Promise<Profile> {
    return (await request(this.#conn, "GET", `/profiles/${seg(org)}/${seg(name)}`, ProfileResponse)).profile;
  }

  /** `action`: install, remove, upgrade or rollback, with its body. */
  async editProfile(
    org: string,
    name: string,
    action: "install" | "remove" | "upgrade" | "rollback",
    body: InstallBody | RemoveBody | UpgradeBody | RollbackBody,
  ): Promise<ProfileEditResponse> {
    return request(
      this.#conn,
      "POST",
      `/profiles/${seg(org)}/${seg(name)}/${action}`,
      ProfileEditResponse,
      body,
    );
  }

  async profileGenerations(org: string, name: string): Promise<GenerationsResponse> {
    return request(this.#conn, "GET", `/profiles/${seg(org)}/${seg(name)}/generations`, GenerationsResponse);
  }

  async profileDiff(org: string, name: string, from: number, to: number): Promise<GenerationDiffResponse> {
    const path = `/profiles/${seg(org)}/${seg(name)}/diff?from=${from}&to=${to}`;
    return request(this.#conn, "GET", path, GenerationDiffResponse);
  }

  async getSchedule(org: string, name: string): Promise<Schedule> {
    return (await request(this.#conn, "GET", `/profiles/${seg(org)}/${seg(name)}/schedule`, ScheduleResponse))
      .schedule;
  }

  async setSchedule(org: string, name: string, body: ScheduleBody): Promise<Schedule> {
    const path = `/profiles/${seg(org)}/${seg(name)}/schedule`;
    return (await request(this.#conn, "PUT", path, ScheduleResponse, body)).schedule;
  }

  /** With a machine token: registers this machine under `name` (again: a no-op, so it may be repeated). */
  async registerMachine(name: string): Promise<Machine> {
    return (await request(this.#conn, "POST", "/machines", MachineResponse, { name }, "idempotent")).machine;
  }

  /** People: the machines of the orgs they may read; a machine token: itself. */
  async listMachines(): Promise<Machine[]> {
    return (await request(this.#conn, "GET", "/machines", MachinesResponse)).machines;
  }

  async machineMe(): Promise<Machine> {
    return (await request(this.#conn, "GET", "/machines/me", MachineResponse)).machine;
  }

  async subscribe(body: SubscriptionBody): Promise<Machine> {
    // Subscribing to what the machine is subscribed to already changes nothing.
    const path = "/machines/me/subscriptions";
    return (await request(this.#conn, "POST", path, MachineResponse, body, "idempotent")).machine;
  }

  async unsubscribe(body: SubscriptionBody): Promise<Machine> {
    const q = new URLSearchParams(body.profile ? { profile: body.profile } : { channel: body.channel ?? "" });
    return (await request(this.#conn, "DELETE", `/machines/me/subscriptions?${q}`, MachineResponse)).machine;
  }

  async report(body: ReportBody): Promise<void> {
    // A report states where the machine is; saying it twice says the same.
    await request(this.#conn, "POST", "/machines/me/reports", null, body, "idempotent");
  }

  async profileStatus(org: string, name: string): Promise<ProfileStatus> {
    return (
      await request(this.#conn, "GET", `/profiles/${seg(org)}/${seg(name)}/status`, ProfileStatusResponse)
    ).status;
  }

  /**
   * The machine's event stream (`text/event-stream`), resuming after `lastEventId`; read it with `readSse`
   * (lib/sse.ts). No timeout: it stays open until `signal` aborts or the server goes.
   */
  async machineEvents(lastEventId: number, signal: AbortSignal): Promise<ReadableStream<Uint8Array>> {
    const headers = { accept: "text/event-stream", "last-event-id": String(lastEventId) };
    return stream(this.#conn, "/machines/me/events", headers, signal);
  }

  // ---- builders (with a builder token) ----

  /**
   * The next build this builder may run, under a lease; null when there is none now (or, with `waitMs`, none
   * turned up in that time). Aborting `signal` drops a waiting claim. Repeated after a lost answer, it may claim a
   * second build: the first one's lease, which nobody renews, runs out and the build is queued again.
   */
  async claimBuild(body: ClaimBody, signal?: AbortSignal): Promise<ClaimResponse | null> {
    return request(
      this.#conn,
      "POST",
      "/builder/claim",
      ClaimResponse.nullable(),
      body,
      "idempotent",
      signal,
    );
  }

  /** Keeps the lease alive (on any server: the lease is in the database); `cancel`: cancelled on the server. */
  async heartbeat(id: number, lease: string): Promise<HeartbeatResponse> {
    const path = `/builder/builds/${seg(String(id))}/heartbeat`;
    return request(this.#conn, "POST", path, HeartbeatResponse, { lease }, "idempotent");
  }

  /** Appends bytes to the build's log. */
  async appendBuildLog(id: number, lease: string, chunk: Uint8Array): Promise<void> {
    const path = `/builder/builds/${seg(String(id))}/log?lease=${encodeURIComponent(lease)}`;
    await request(this.#conn, "POST", path, null, chunk);
  }

  /**
   * Reports how the build went; the answer is the state the server gave it. The report ends the lease, so a repeat
   * of one that got through is refused with 409 and never counts twice.
   */
  async reportBuildResult(id: number, body: BuildResultBody): Promise<BuildState> {
    const path = `/builder/builds/${seg(String(id))}/result`;
    return (await request(this.#conn, "POST", path, BuildResultResponse, body, "idempotent")).state;
  }

  // ---- The Storehouse's lifecycle (lib/api/storehouse-gc.ts) ----

  /** Collects (or, with dryRun, plans) unreachable paths; admin, or an org's owner with `org`. */
  async gc(body: GcBody): Promise<GcReport> {
    return (await request(this.#conn, "POST", "/storehouse/gc", GcResponse, body)).gc;
  }

  async storehouseUsage(org?: string): Promise<StorehouseUsage> {
    const q = org ? `?${new URLSearchParams({ org })}` : "";
    return (await request(this.#conn, "GET", `/storehouse/usage${q}`, StorehouseUsageResponse)).usage;
  }

  async listPins(): Promise<Pin[]> {
    return (await request(this.#conn, "GET", "/storehouse/pins", PinsResponse)).pins;
  }

  async addPin(body: PinBody): Promise<Pin> {
    return (await request(this.#conn, "POST", "/storehouse/pins", PinResponse, body)).pin;
  }

  /** Removes the pins named `ref` or pinning the store path `ref`. */
  async removePins(ref: string): Promise<Pin[]> {
    const q = new URLSearchParams({ ref });
    return (await request(this.#conn, "DELETE", `/storehouse/pins?${q}`, PinsRemovedResponse)).removed;
  }

  async getRetention(org: string): Promise<Retention> {
    return (await request(this.#conn, "GET", `/orgs/${seg(org)}/retention`, RetentionResponse)).retention;
  }

  async setRetention(org: string, body: RetentionBody): Promise<Retention> {
    return (await request(this.#conn, "PUT", `/orgs/${seg(org)}/retention`, RetentionResponse, body))
      .retention;
  }
}

/** `/channels/ORG[/BRANCH]`; with `withBranch`, main is spelled out (the history and pin routes need it). */
function channelPath(name: string, withBranch = false): string {
  const slash = name.indexOf("/");
  const org = slash < 0 ? name : name.slice(0, slash);
  const branch = slash < 0 ? (withBranch ? "main" : undefined) : name.slice(slash + 1);
  return `/channels/${seg(org)}${branch === undefined ? "" : `/${seg(branch)}`}`;
}
