import { test } from "uvu";
import * as assert from "uvu/assert";
import { classifyGitUrl } from "./git-url.js";

test("the four git endpoints of /<org>/nixexprs.git are recognised", () => {
  assert.equal(classifyGitUrl("GET", "/acme/nixexprs.git/info/refs?service=git-upload-pack"), {
    kind: "git",
    org: "acme",
    service: "info-refs",
    access: "fetch",
  });
  assert.equal(classifyGitUrl("GET", "/acme/nixexprs.git/info/refs?service=git-receive-pack"), {
    kind: "git",
    org: "acme",
    service: "info-refs",
    access: "push",
  });
  assert.equal(classifyGitUrl("POST", "/acme/nixexprs.git/git-upload-pack"), {
    kind: "git",
    org: "acme",
    service: "upload-pack",
    access: "fetch",
  });
  assert.equal(classifyGitUrl("POST", "/a-1/nixexprs.git/git-receive-pack"), {
    kind: "git",
    org: "a-1",
    service: "receive-pack",
    access: "push",
  });
  assert.is(classifyGitUrl("GET", "/acme/nixexprs.git/HEAD").kind, "git");
});

test("API and other paths are left to the API", () => {
  for (const url of ["/api/v1/orgs", "/api/v1/orgs/acme", "/cache/nix-cache-info", "/", "/channels/acme"]) {
    assert.is(classifyGitUrl("GET", url).kind, "not-git", url);
  }
});

test("traversal, encoded separators and odd slashes are refused with 400", () => {
  for (const url of [
    "/acme/../nixexprs.git/info/refs?service=git-upload-pack",
    "/acme/nixexprs.git/../../etc/info/refs",
    "/acme%2fother/nixexprs.git/info/refs?service=git-upload-pack",
    "/acme%2Fother/nixexprs.git/git-receive-pack",
    "/acme%5cother/nixexprs.git/git-receive-pack",
    "/acme\\other/nixexprs.git/git-receive-pack",
    "//acme/nixexprs.git/git-receive-pack",
    "/acme//nixexprs.git/git-receive-pack",
    "/acme/nixexprs%2egit/info/refs?service=git-upload-pack",
  ]) {
    const r = classifyGitUrl("POST", url);
    assert.is(r.kind, "refuse", url);
    if (r.kind === "refuse") assert.is(r.status, 400, url);
  }
});

test("other repo names, bad org names and dumb-protocol paths are 404", () => {
  for (const url of [
    "/acme/other.git/info/refs?service=git-upload-pack",
    "/acme/nixexprs/info/refs?service=git-upload-pack",
    "/acme/sub/nixexprs.git/info/refs?service=git-upload-pack",
    "/ACME/nixexprs.git/info/refs?service=git-upload-pack",
    "/nixexprs.git/info/refs?service=git-upload-pack",
    "/acme/nixexprs.git/objects/info/packs",
    "/acme/nixexprs.git/config",
    "/acme/nixexprs.git",
    "/acme/nixexprs.git/info/refs?service=git-upload-pack&x=1",
    "/acme/nixexprs.git/git-receive-pack?service=git-receive-pack",
  ]) {
    const r = classifyGitUrl("GET", url);
    assert.is(r.kind, "refuse", url);
    if (r.kind === "refuse") assert.is(r.status, 404, url);
  }
});

test("wrong methods and missing service are refused", () => {
  const post = classifyGitUrl("POST", "/acme/nixexprs.git/info/refs?service=git-upload-pack");
  assert.equal(post.kind === "refuse" && post.status, 405);
  const get = classifyGitUrl("GET", "/acme/nixexprs.git/git-receive-pack");
  assert.equal(get.kind === "refuse" && get.status, 405);
  const dumb = classifyGitUrl("GET", "/acme/nixexprs.git/info/refs");
  assert.equal(dumb.kind === "refuse" && dumb.status, 400);
});

test.run();
