import assert from "node:assert/strict";
import { filterEnv, isSensitiveEnvName, validateEnvName } from "../lib/core/env_filter.ts";
import { UsageError } from "../lib/core/errors.ts";

Deno.test("isSensitiveEnvName() flags the documented secret-looking names", async (t) => {
  for (
    const name of [
      "API_KEY",
      "stripe_secret_key",
      "GITHUB_TOKEN",
      "GH_TOKEN",
      "MY_SECRET",
      "DB_PASSWORD",
      "PASSWORD",
      "GOOGLE_APPLICATION_CREDENTIALS",
      "AWS_ACCESS_KEY_ID",
      "AWS_REGION",
      "OPENAI_API_KEY",
      "ANTHROPIC_API_KEY",
      "DATABASE_URL",
      "SMTP_PASS",
    ]
  ) {
    await t.step(name, () => assert.ok(isSensitiveEnvName(name)));
  }
  for (const name of ["PATH", "HOME", "LANG", "KEYBOARD", "TOKENIZER_PATH", "CI", "TERM"]) {
    await t.step(`${name} is not`, () => assert.ok(!isSensitiveEnvName(name)));
  }
});

Deno.test("filterEnv() drops sensitive names unless allowed", () => {
  const r = filterEnv({ A: "1", API_TOKEN: "x", AWS_PROFILE: "p" }, ["aws_profile"]);
  assert.deepEqual(r.env, { A: "1", AWS_PROFILE: "p" });
  assert.deepEqual(r.dropped, ["API_TOKEN"]);
});

Deno.test("filterEnv() refuses bad names and NUL values", () => {
  assert.throws(() => filterEnv({ "A-B": "1" }), UsageError);
  assert.throws(() => filterEnv({ "1A": "1" }), UsageError);
  assert.throws(() => filterEnv({ "A;rm": "1" }), UsageError);
  assert.throws(() => filterEnv({ A: "x\0y" }), UsageError);
  assert.throws(() => validateEnvName(""), UsageError);
});
