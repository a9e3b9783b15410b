/** The policy cases the library and CLI tests share: an allowlist and the bypasses it refuses. */

import type { Policy } from "../lib/core/policy.ts";

/** The allowlist of the must-show: ls, cat, and git status. */
export const ALLOW: Policy = {
  mode: "allowlist",
  rules: [
    { id: "ls", decision: "allow", program: "ls", more: true },
    { id: "cat", decision: "allow", program: "cat", more: true },
    { id: "git-status", decision: "allow", program: "git", args: ["status"] },
  ],
};

/** Commands that would create `m` (a marker) if they ran, each refused under {@linkcode ALLOW}. */
export function bypasses(m: string): [string, readonly string[] | string][] {
  return [
    ["command substitution in a script", `ls $(touch ${m})`],
    ["a command list", `ls; touch ${m}`],
    ["a newline in a script", `ls\ntouch ${m}`],
    ["process substitution", `cat <(touch ${m})`],
    ["an absolute path", ["/usr/bin/touch", m]],
    ["a file named ls outside the system directories", ["/tmp/ls", m]],
    ["quotes in the program name", ["t''ouch", m]],
    ["a glob as the program", ["/usr/bin/tou?h", m]],
    ["a newline in argv[0]", [`ls\ntouch`, m]],
    ["a command list in argv[0]", [`ls; touch ${m}`]],
    ["env", ["env", "touch", m]],
    ["env with an assignment", ["env", "A=1", "touch", m]],
    ["env -S (a split string)", ["env", "-S", `touch ${m}`]],
    ["nohup", ["nohup", "touch", m]],
    ["timeout", ["timeout", "5", "touch", m]],
    ["nice", ["nice", "-n", "5", "touch", m]],
    ["ionice", ["ionice", "-c", "3", "touch", m]],
    ["stdbuf", ["stdbuf", "-o0", "touch", m]],
    ["xargs", ["xargs", "touch", m]],
    ["sudo", ["sudo", "-n", "touch", m]],
    ["doas", ["doas", "touch", m]],
    ["sh -c", ["sh", "-c", `touch ${m}`]],
    ["bash -c", ["bash", "-c", `touch ${m}`]],
    ["a wrapper around sh -c", ["nohup", "sh", "-c", `touch ${m}`]],
    ["find -exec", ["find", "/", "-maxdepth", "0", "-exec", "touch", m, ";"]],
    ["find -delete", ["find", m, "-delete"]],
    ["git -c", ["git", "-c", `core.pager=touch ${m}`, "status"]],
    ["git with another subcommand", ["git", "status", "--porcelain"]],
    ["cat through find -exec", ["find", "/", "-maxdepth", "0", "-exec", "cat", "/dev/null", ";"]],
  ];
}
