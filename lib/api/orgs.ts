// The HTTP API v1: orgs, users and memberships (docs/API.md, "Orgs").
import { z } from "zod";
import { Name, Timestamp } from "./common.js";
import { roles } from "./enums.js";

/** An org role, weakest last: owner > member > reader. */
export const Role = z.enum(roles);
export type Role = z.infer<typeof Role>;

export const Org = z.object({
  name: Name,
  displayName: z.string(),
  /** Public orgs' CI pages, API reads, badges, channels and build logs need no token; private ones are invisible. */
  public: z.boolean(),
  /**
   * Its machine tokens may build through the shared Nix daemon (`flox org set acme --machine-builds on`). A server
   * from before the shared daemon leaves it out: false.
   */
  machineBuilds: z.boolean().default(false),
  createdAt: Timestamp,
  /** Clone URL, e.g. `http://HOST/acme/nixexprs.git`. */
  repoUrl: z.string(),
});
export type Org = z.infer<typeof Org>;

export const User = z.object({ name: Name, createdAt: Timestamp });
export type User = z.infer<typeof User>;

export const Member = z.object({ user: Name, org: Name, role: Role });
export type Member = z.infer<typeof Member>;

export const CreateOrgBody = z
  .object({
    name: Name,
    displayName: z.string().trim().min(1).max(200).optional(),
    /** Default false: a private org is invisible to anyone without a role there. */
    public: z.boolean().optional(),
  })
  .strict();
export type CreateOrgBody = z.infer<typeof CreateOrgBody>;

export const UpdateOrgBody = z
  .object({ public: z.boolean().optional(), machineBuilds: z.boolean().optional() })
  .strict()
  .refine((b) => b.public !== undefined || b.machineBuilds !== undefined, {
    message: "give public, machineBuilds or both",
  });
export type UpdateOrgBody = z.infer<typeof UpdateOrgBody>;

export const CreateUserBody = z.object({ name: Name }).strict();
export type CreateUserBody = z.infer<typeof CreateUserBody>;

export const PutMemberBody = z.object({ role: Role }).strict();
export type PutMemberBody = z.infer<typeof PutMemberBody>;

export const OrgResponse = z.object({ org: Org });
export type OrgResponse = z.infer<typeof OrgResponse>;

export const OrgsResponse = z.object({ orgs: z.array(Org) });
export type OrgsResponse = z.infer<typeof OrgsResponse>;

export const UserResponse = z.object({ user: User });
export type UserResponse = z.infer<typeof UserResponse>;

export const UsersResponse = z.object({ users: z.array(User) });
export type UsersResponse = z.infer<typeof UsersResponse>;

export const MemberResponse = z.object({ member: Member });
export type MemberResponse = z.infer<typeof MemberResponse>;

export const MembersResponse = z.object({ members: z.array(Member) });
export type MembersResponse = z.infer<typeof MembersResponse>;
