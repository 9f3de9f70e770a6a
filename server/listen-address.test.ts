import { test } from "uvu";
import * as assert from "uvu/assert";
import { InvalidInputError } from "./errors.js";
import { localUrl, parseListen, urlOf } from "./listen-address.js";

test("HOST:PORT, [v6]:PORT and a bare port", () => {
  assert.equal(parseListen("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
  assert.equal(parseListen("0.0.0.0:8080"), { host: "0.0.0.0", port: 8080 });
  assert.equal(parseListen("[::1]:9000"), { host: "::1", port: 9000 });
  assert.equal(parseListen("localhost:1"), { host: "localhost", port: 1 });
  assert.equal(parseListen("8080"), { host: "127.0.0.1", port: 8080 });
});

test("anything else is refused with a hint", () => {
  for (const bad of ["", "host", "host:", "host:99999", "a:b:c", "::1:80"]) {
    assert.throws(
      () => parseListen(bad),
      (e: unknown) => e instanceof InvalidInputError && /--listen/.test(String(e)),
    );
  }
});

test("URLs bracket IPv6; the hooks reach wildcard binds over loopback", () => {
  assert.is(urlOf("::1", 80), "http://[::1]:80");
  assert.is(localUrl("0.0.0.0", 5), "http://127.0.0.1:5");
  assert.is(localUrl("::", 5), "http://[::1]:5");
  assert.is(localUrl("10.1.2.3", 5), "http://10.1.2.3:5");
});

test.run();
